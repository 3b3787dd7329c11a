"""Strict output formats (07_capability): a small seeded suite of prompts whose replies are checked by code.

Four formats, each generated from templates with seeded choices:
- json: "... as a JSON object with exactly the keys ..." — passes when the reply parses with json.loads to
  an object with exactly those keys, each of the stated type (an integer is not a boolean, a number may be
  an integer, a list of strings holds only strings).
- bullets: "... as exactly N bullet points, and nothing else" — every non-empty line is a bullet ("-", "*"
  or "•" then a space and text), and there are N of them.
- one_word: "... Answer with one word only." — one word of letters (inner hyphens or apostrophes allowed),
  optionally followed by one of . ! ?
- list: "... as a comma-separated list of N items on one line, and nothing else" — one line, N non-empty
  comma-separated items, optionally ending in a period.

A fenced JSON block counts: a reply that is one ```json (or bare ```) fence around the object, with
nothing else outside it, passes as the object. Chat models fence JSON by habit, and a program reading
the reply strips a lone fence as easily as whitespace; what a program cannot read — prose before or after
the object, inside or outside a fence, or two objects — fails. Surrounding whitespace is always ignored;
an empty reply fails every format.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Sequence

import pandas as pd

FORMATS = ("json", "bullets", "one_word", "list")
FORMAT_NAMES = {"json": "JSON with given keys", "bullets": "exactly N bullet points", "one_word": "one word only",
                "list": "comma-separated list of N items"}

# JSON templates: a subject and its keys with their types.
JSON_SUBJECTS = (
    ("a city you know", {"name": "string", "country": "string", "population": "integer"}),
    ("a famous book", {"title": "string", "author": "string", "year": "integer"}),
    ("a planet of the solar system", {"name": "string", "moons": "integer", "has_rings": "boolean"}),
    ("a simple recipe", {"dish": "string", "ingredients": "list of strings", "minutes": "integer"}),
    ("an animal", {"name": "string", "legs": "integer", "can_fly": "boolean"}),
    ("a mountain", {"name": "string", "height_m": "number", "continent": "string"}),
    ("a programming language", {"name": "string", "first_released": "integer", "typed": "boolean"}),
    ("a river", {"name": "string", "length_km": "number", "countries": "list of strings"}),
)
THINGS = ("fruits", "animals", "countries", "colors", "musical instruments", "sports", "vegetables", "cities",
          "tools", "birds", "flowers", "professions")
ONE_WORD_QUESTIONS = (
    "What color is the sky on a clear day?", "Which animal is known as the king of the jungle?",
    "What is the opposite of hot?", "Which planet is closest to the Sun?", "What do bees make?",
    "What is frozen water called?", "Which season comes after winter?", "What is the capital of France?",
    "Which metal is liquid at room temperature?", "What gas do plants take in from the air?",
    "What is the largest ocean on Earth?", "Which organ pumps blood through the body?",
)
COUNTS = (3, 4, 5, 6, 7)


@dataclass(frozen=True)
class FormatItem:
    id: str                     # "<format>-<i>"
    format: str                 # one of FORMATS
    prompt: str
    n: int | None = None        # bullets and list: how many
    keys: tuple[tuple[str, str], ...] = ()     # json: (key, type) in order


def suite(items_per_format: int, seed: int) -> list[FormatItem]:
    """`items_per_format` items of each format, drawn from the templates with `seed` (same seed, same suite)."""
    rng = random.Random(seed)
    items: list[FormatItem] = []
    for i in range(items_per_format):
        subject, keys = JSON_SUBJECTS[rng.randrange(len(JSON_SUBJECTS))]
        described = ", ".join(f'"{k}" ({t})' for k, t in keys.items())
        items.append(FormatItem(f"json-{i}", "json", f"Describe {subject} as a JSON object with exactly these keys: "
                                f"{described}. Reply with the JSON object only.", keys=tuple(keys.items())))
        n, things = rng.choice(COUNTS), rng.choice(THINGS)
        items.append(FormatItem(f"bullets-{i}", "bullets", f"Name {n} {things}, as exactly {n} bullet points "
                                "(each line starting with '- '), and nothing else.", n=n))
        items.append(FormatItem(f"one_word-{i}", "one_word",
                                f"{rng.choice(ONE_WORD_QUESTIONS)} Answer with one word only."))
        n, things = rng.choice(COUNTS), rng.choice(THINGS)
        items.append(FormatItem(f"list-{i}", "list", f"Name {n} {things} as a comma-separated list of {n} items "
                                "on one line, and nothing else.", n=n))
    return items


# -- checks: each takes the reply and the item, and says whether the reply is in format ------------------
_FENCE = re.compile(r"\A```[ \t]*(?:json)?[ \t]*\n(.*?)\n?```\Z", re.S | re.I)
_BULLET = re.compile(r"^\s*[-*•]\s+\S")
_WORD = re.compile(r"^[^\W\d_]+(?:['’-][^\W\d_]+)*[.!?]?$")


def unfenced(reply: str) -> str:
    """The reply without surrounding whitespace and, when it is one ```json (or ```) fence and nothing
    else, without the fence."""
    text = reply.strip()
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text


def _has_type(value, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "list of strings":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    raise ValueError(f"unknown JSON type {kind!r}")


def check_json(reply: str, keys: Sequence[tuple[str, str]]) -> bool:
    """An object with exactly `keys`, each of its type (a lone fence around it is allowed)."""
    try:
        value = json.loads(unfenced(reply))
    except ValueError:
        return False
    expected = dict(keys)
    return isinstance(value, dict) and set(value) == set(expected) and \
        all(_has_type(value[k], t) for k, t in expected.items())


def check_bullets(reply: str, n: int) -> bool:
    """Exactly n bullet lines and no other non-empty line."""
    lines = [line for line in reply.splitlines() if line.strip()]
    return len(lines) == n and all(_BULLET.match(line) for line in lines)


def check_one_word(reply: str) -> bool:
    """One word of letters (inner - or ' allowed), optionally ending in . ! or ?"""
    return bool(_WORD.match(reply.strip()))


def check_list(reply: str, n: int) -> bool:
    """One line of exactly n non-empty comma-separated items (a final period allowed)."""
    text = reply.strip()
    if not text or "\n" in text:
        return False
    items = [item.strip() for item in text.rstrip(".").split(",")]
    return len(items) == n and all(items)


def check(item: FormatItem, reply: str) -> bool:
    """Whether `reply` is in the format `item` asks for."""
    if item.format == "json":
        return check_json(reply, item.keys)
    if item.format == "bullets":
        return check_bullets(reply, item.n)
    if item.format == "one_word":
        return check_one_word(reply)
    if item.format == "list":
        return check_list(reply, item.n)
    raise ValueError(f"unknown format {item.format!r}")


def item_table(items: Sequence[FormatItem], replies: Sequence[str]) -> pd.DataFrame:
    """One row per item: id, format, and `correct` (the reply is in format)."""
    return pd.DataFrame([dict(item=item.id, format=item.format, correct=check(item, reply))
                         for item, reply in zip(items, replies, strict=True)], columns=["item", "format", "correct"])


def replies(condition, items: Sequence[FormatItem], max_new_tokens: int) -> list[str]:
    """Greedy chat-templated replies, through the one cache (a cached condition loads no model)."""
    from lib.generations import greedy_replies
    return greedy_replies(condition, "formats", [item.prompt for item in items], max_new_tokens)
