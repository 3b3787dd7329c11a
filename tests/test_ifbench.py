"""lib.ifbench: IFBench's own checkers on hand-written replies, and how skipped checkers are counted."""
import pandas as pd
import pytest

from lib import ifbench


def _prompt(key: str, *instructions: tuple[str, dict]) -> ifbench.IFPrompt:
    return ifbench.IFPrompt(key, f"prompt {key}", tuple(i for i, _ in instructions), tuple(k for _, k in instructions))


@pytest.fixture(autouse=True)
def no_model_left_loaded():
    """Fake backends must not stay in lib.conditions' one-model slot for later tests."""
    yield
    from lib import conditions
    conditions.release()


WORDS = ("count:word_count_range", {"min_words": 2, "max_words": 4})
NEWLINE = ("format:newline", {})
STOP_WORDS = ("ratio:stop_words", {"percentage": 50})


@pytest.fixture
def no_nltk_data(monkeypatch):
    """As on a machine without NLTK data packages, whatever this one has."""
    monkeypatch.setattr(ifbench, "_nltk_has", lambda resource: False)
    ifbench.unavailable.cache_clear()
    yield
    ifbench.unavailable.cache_clear()


def test_the_wheel_ships_the_test_set():
    prompts = ifbench.load_prompts()
    assert len(prompts) == 294 and len({i for p in prompts for i in p.instruction_ids}) == 57
    assert all(None not in kw.values() for p in prompts for kw in p.kwargs)      # unset arguments dropped
    sample = ifbench.sample_prompts(prompts, 10, seed=0)
    assert len(sample) == 10 and sample == ifbench.sample_prompts(prompts, 10, seed=0)
    assert sample != ifbench.sample_prompts(prompts, 10, seed=1) and ifbench.sample_prompts(prompts, "all", 0) == prompts


@pytest.mark.parametrize("instruction, reply, strict, loose", [
    (WORDS, "One two three.", True, True),
    (WORDS, "This reply has far too many words for the range.", False, False),
    (WORDS, "Sure! Here is a reply that has a long first line:\nred green blue", False, True),   # loose drops line 1
    (WORDS, "", False, False),                                                                   # empty follows nothing
    (NEWLINE, "alpha\nbeta\ngamma", True, True),
    (NEWLINE, "alpha beta gamma", False, False),
])
def test_known_checkers_pass_and_fail_hand_written_replies(instruction, reply, strict, loose):
    result = ifbench.check_instruction(_prompt("0", instruction), 0, reply)
    assert (result["strict"], result["loose"], result["skipped"]) == (strict, loose, "")


def test_a_skipped_checker_is_reported_and_never_passed(no_nltk_data):
    prompts = [_prompt("a", WORDS, STOP_WORDS), _prompt("b", WORDS)]
    table = ifbench.instruction_table(prompts, ["one two three", "one two three"])
    skipped = table[table["instruction"] == "ratio:stop_words"].iloc[0]
    assert skipped["strict"] is None and skipped["loose"] is None and "corpora/stopwords" in skipped["skipped"]
    summary = ifbench.skipped_summary(table)
    assert summary[["instruction", "instructions", "prompts"]].values.tolist() == [["ratio:stop_words", 1, 1]]
    for mode in ("strict", "loose"):
        instructions = ifbench.level_items(table, "instruction", mode)
        assert len(instructions) == 2 and instructions["correct"].all()           # the two checked word counts
        prompt_level = ifbench.level_items(table, "prompt", mode)
        assert list(prompt_level["item"]) == ["b"] and prompt_level["correct"].all()   # "a" left out, not passed


def test_a_checker_that_raises_is_skipped_for_that_reply(monkeypatch):
    registry = ifbench._evaluation().instructions_registry.INSTRUCTION_DICT

    class Broken(registry["format:newline"]):
        def check_following(self, value):
            raise ValueError("cannot read this reply")
    monkeypatch.setitem(registry, "format:newline", Broken)
    table = ifbench.instruction_table([_prompt("c", NEWLINE)], ["alpha\nbeta"])
    assert table["skipped"].item() == "checker raised ValueError" and table["strict"].item() is None
    assert ifbench.level_items(table, "instruction", "strict").empty
    assert ifbench.level_items(table, "prompt", "loose").empty


def test_checking_leaves_the_global_random_state_alone():
    import random
    random.seed(123)
    expected = random.random()
    random.seed(123)
    ifbench.check_instruction(_prompt("d", WORDS), 0, "one two")
    assert random.random() == expected


def test_replies_are_cached_per_condition(tmp_path):
    from tests.fakes import CountingBackend, fake_condition
    backend = CountingBackend()
    condition = fake_condition(tmp_path, backend)
    prompts = ifbench.load_prompts()[:3]
    first = ifbench.replies(condition, prompts, max_new_tokens=8)
    assert ifbench.replies(condition, prompts, max_new_tokens=8) == first and backend.calls == {"complete": 1}
    table = ifbench.instruction_table(prompts, first)
    assert isinstance(table, pd.DataFrame) and len(table) == sum(len(p.instruction_ids) for p in prompts)
