"""The task panel: categorical prompts and their answer sets, each read with lib.parsing's parsers.

A Task bundles a prompt, its canonical answer set A and two parsers: `parse` is lenient (digs the
answer out of a chatty reply); `parse_strict` accepts only a bare answer. The gap between them
measures format compliance, not choice. Parsers never raise: None means "no valid answer".

Kinds: "integer" (A is a range), "choice" (A is exhaustive, e.g. card suits)
and "open" (A is a curated list; other valid answers come back as "other"
strings outside A instead of None). The panel's open tasks accept an "other"
answer only when a maintained lexicon knows it (lib.lexicons): "doritoba" is
no word, so a reply saying it is invalid, not one more distinct answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

from . import answer_sets, lexicons, parsing
from .parsing import Parser

__all__ = [
    "Task",
    "TASK_IDS",
    "TRAINED_TASK",
    "integer_task",
    "choice_task",
    "panel",
    "get",
]

TASK_IDS: tuple[str, ...] = (
    "integer_1_10",
    "integer_1_100",
    "integer_1_1000",
    "card_suit",
    "color",
    "fruit",
    "animal",
    "first_name",
    "word",
    "emoji",
)
TRAINED_TASK = "integer_1_100"

KINDS = ("integer", "choice", "open")
# How answers are written; decides surface forms and how "other" answers are cased.
STYLES = ("number", "word", "name", "emoji")


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    prompt: str
    answers: tuple[str, ...]
    kind: str
    parse: Parser
    parse_strict: Parser
    style: str = "word"
    # Open tasks with a lexicon: `parse` before the lexicon check (shows what the check rejected); else None.
    parse_unchecked: Parser | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task {self.id!r}: kind {self.kind!r} not in {KINDS}")
        if self.style not in STYLES:
            raise ValueError(f"task {self.id!r}: style {self.style!r} not in {STYLES}")
        if not self.answers or len(set(self.answers)) != len(self.answers):
            raise ValueError(f"task {self.id!r}: answers must be non-empty and duplicate-free")

    @property
    def k(self) -> int:
        return len(self.answers)

    @property
    def open_domain(self) -> bool:
        return self.kind == "open"

    def surface_forms(self, answer: str) -> tuple[str, ...]:
        """Bare reply texts that mean `answer`, for exact (token-probability) scoring.

        The first element is always `answer` itself.
        """
        if self.style in ("number", "name"):
            return (answer,)
        if self.style == "emoji":
            # Text-default emoji are usually emitted with U+FE0F ("❤️"); both spell the answer.
            return (answer, answer + "\ufe0f") if _needs_fe0f(answer) else (answer,)
        lower = answer.lower()
        return tuple(dict.fromkeys((answer, lower, lower[:1].upper() + lower[1:])))


# -- Emoji spellings for exact scoring -------------------------------------------------------------

def _code_points(spec: str) -> frozenset[int]:
    points: set[int] = set()
    for item in spec.split():
        first, _, last = item.partition("-")
        points.update(range(int(first, 16), int(last or first, 16) + 1))
    return frozenset(points)


# Emoji whose default presentation is text (Unicode Emoji_Presentation=No), so
# emoji-style output carries U+FE0F, e.g. "❤️". From Unicode emoji-data.txt.
_TEXT_DEFAULT_EMOJI = _code_points(
    "00A9 00AE 203C 2049 2122 2139 2194-2199 21A9-21AA 2328 23CF 23ED-23EF 23F1-23F2 "
    "23F8-23FA 24C2 25AA-25AB 25B6 25C0 25FB-25FC 2600-2604 260E 2611 2618 261D 2620 "
    "2622-2623 2626 262A 262E-262F 2638-263A 2640 2642 265F-2660 2663 2665-2666 2668 "
    "267B 267E 2692 2694-2697 2699 269B-269C 26A0 26A7 26B0-26B1 26C8 26CF 26D1 26D3 "
    "26E9 26F0-26F1 26F4 26F7-26F9 2702 2708-2709 270C-270D 270F 2712 2714 2716 271D "
    "2721 2733-2734 2744 2747 2763-2764 27A1 2934-2935 2B05-2B07 3030 303D 3297 3299 "
    "1F170-1F171 1F17E-1F17F 1F202 1F237 1F321 1F324-1F32C 1F336 1F37D 1F396-1F397 "
    "1F399-1F39B 1F39E-1F39F 1F3CB-1F3CE 1F3D4-1F3DF 1F3F3 1F3F5 1F3F7 1F43F 1F441 "
    "1F4FD 1F549-1F54A 1F56F-1F570 1F573-1F579 1F587 1F58A-1F58D 1F590 1F5A5 1F5A8 "
    "1F5B1-1F5B2 1F5BC 1F5C2-1F5C4 1F5D1-1F5D3 1F5DC-1F5DE 1F5E1 1F5E3 1F5E8 1F5EF "
    "1F5F3 1F5FA 1F6CB 1F6CD-1F6CF 1F6E0-1F6E5 1F6E9 1F6F0 1F6F3"
)


def _needs_fe0f(emoji: str) -> bool:
    return len(emoji) == 1 and ord(emoji) in _TEXT_DEFAULT_EMOJI


# -- Task constructors and the panel ---------------------------------------------------------------

def integer_task(id: str, lo: int, hi: int, prompt: str | None = None, name: str | None = None) -> Task:
    if lo > hi:
        raise ValueError(f"integer task {id!r}: lo={lo} > hi={hi}")
    parse, parse_strict = parsing.integer_parsers(lo, hi)
    return Task(
        id=id,
        name=name if name is not None else f"integer {lo}–{hi}",
        prompt=prompt if prompt is not None else f"Pick a random integer between {lo} and {hi}. Answer with just the number.",
        answers=tuple(str(i) for i in range(lo, hi + 1)),
        kind="integer",
        parse=parse,
        parse_strict=parse_strict,
        style="number",
    )


def choice_task(
    id: str,
    answers: Sequence[str],
    prompt: str,
    name: str | None = None,
    open_domain: bool = False,
    *,
    aliases: Mapping[str, str] | None = None,
    style: str | None = None,
    other_max_words: int = 2,
) -> Task:
    """A task over a finite answer list.

    aliases: extra spellings -> canonical answer ("grey" -> "gray", "♥" -> "Hearts").
    style: "word" (case-insensitive, plural-aware), "name" (no plurals, "other"
        answers Capitalized) or "emoji"; default "emoji" when no answer has a
        letter or digit, else "word".
    other_max_words: longest off-list answer an open task accepts, in words.
    """
    answers = tuple(answers)
    name = name if name is not None else id.replace("_", " ")
    if style is None:
        style = "emoji" if all(not any(ch.isalnum() for ch in a) for a in answers) else "word"
    if style == "emoji":
        parse, parse_strict = parsing.emoji_parsers()
    else:
        noun = name.split()[-1] if name.split() else id
        parse, parse_strict = parsing.choice_parsers(answers, style, aliases or {}, open_domain=open_domain,
                                                     other_max_words=other_max_words, noun=noun)
    return Task(
        id=id, name=name, prompt=prompt, answers=answers,
        kind="open" if open_domain else "choice",
        parse=parse, parse_strict=parse_strict, style=style,
    )


def _open_prompt(noun: str, what: str | None = None) -> str:
    return f"Pick a random {what or noun}. Answer with just the {noun}."


_SUIT_SYMBOLS = {"♠": "Spades", "♤": "Spades", "♥": "Hearts", "♡": "Hearts",
                 "♦": "Diamonds", "♢": "Diamonds", "♣": "Clubs", "♧": "Clubs"}
_COLOR_ALIASES = {"grey": "gray"}
_FRUIT_ALIASES = {"dragonfruit": "dragon fruit", "passionfruit": "passion fruit", "star fruit": "starfruit"}
_ANIMAL_ALIASES = {"hippo": "hippopotamus", "rhino": "rhinoceros", "ladybird": "ladybug",
                   "killer whale": "orca", "sea horse": "seahorse"}


def _lexicon_checked(task: Task) -> Task:
    """The task with both parsers keeping an off-list answer only if the task's lexicon knows it."""
    curated = frozenset(task.answers)

    def check(parser: Parser) -> Parser:
        def parse(reply: str) -> str | None:
            answer = parser(reply)
            return answer if answer is None or answer in curated or lexicons.knows(task.id, answer) else None
        return parse

    return replace(task, parse=check(task.parse), parse_strict=check(task.parse_strict), parse_unchecked=task.parse)


def _build_panel() -> dict[str, Task]:
    tasks = [
        integer_task("integer_1_10", 1, 10),
        integer_task("integer_1_100", 1, 100),
        integer_task("integer_1_1000", 1, 1000),
        choice_task("card_suit", ("Spades", "Hearts", "Diamonds", "Clubs"),
                    _open_prompt("suit", "card suit"), name="card suit", aliases=_SUIT_SYMBOLS),
        choice_task("color", answer_sets.COLORS, _open_prompt("color"), name="color",
                    open_domain=True, aliases=_COLOR_ALIASES),
        choice_task("fruit", answer_sets.FRUITS, _open_prompt("fruit"), name="fruit",
                    open_domain=True, aliases=_FRUIT_ALIASES),
        choice_task("animal", answer_sets.ANIMALS, _open_prompt("animal"), name="animal",
                    open_domain=True, aliases=_ANIMAL_ALIASES),
        choice_task("first_name", answer_sets.FIRST_NAMES, _open_prompt("name", "first name"),
                    name="first name", open_domain=True, style="name"),
        choice_task("word", answer_sets.WORDS, _open_prompt("word", "English word"), name="word",
                    open_domain=True, other_max_words=1),
        choice_task("emoji", answer_sets.EMOJI, _open_prompt("emoji"), name="emoji",
                    open_domain=True, style="emoji"),
    ]
    return {task.id: _lexicon_checked(task) if task.id in lexicons.LEXICONS_OF_TASK else task for task in tasks}


_PANEL = _build_panel()


def get(task_id: str) -> Task:
    try:
        return _PANEL[task_id]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task id {task_id!r}; allowed ids: {', '.join(TASK_IDS)}") from None


def display_name(task_id: str) -> str:
    """The task's readable name for tables, charts and sentences; the id itself for tasks outside the panel."""
    task = _PANEL.get(task_id) if isinstance(task_id, str) else None
    return task.name if task else str(task_id)


def panel(ids: str | Sequence[str] = "all") -> list[Task]:
    """Tasks by id, in the order given; "all" is the ten in TASK_IDS order."""
    if isinstance(ids, str):
        ids = TASK_IDS if ids == "all" else (ids,)
    return [get(task_id) for task_id in ids]


def tasks_from_definitions(definitions: Sequence[Mapping]) -> list[Task]:
    """Extra tasks defined in params YAML, evaluated with no code change:
    ``{id, prompt, range: [lo, hi]}`` (integer parser) or ``{id, prompt, answers: [...], open: false}``
    (choice-list parser). Raises ValueError naming the task and the problem."""
    if not isinstance(definitions, (list, tuple)):
        raise ValueError("extra_tasks must be a list")
    built: list[Task] = []
    for i, spec in enumerate(definitions):
        where = f"extra_tasks[{i}]"
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where} must be a mapping")
        allowed = {"id", "prompt", "name", "range", "answers", "open"}
        if set(spec) - allowed:
            raise ValueError(f"{where} has unknown key(s) {sorted(set(spec) - allowed)}; allowed: {sorted(allowed)}")
        task_id, prompt = spec.get("id"), spec.get("prompt")
        if not isinstance(task_id, str) or not task_id or not isinstance(prompt, str) or not prompt:
            raise ValueError(f"{where} needs a non-empty 'id' and 'prompt'")
        if task_id in TASK_IDS or task_id in {t.id for t in built}:
            raise ValueError(f"{where}: id {task_id!r} is already taken")
        if ("range" in spec) == ("answers" in spec):
            raise ValueError(f"{where} ({task_id}) needs exactly one of 'range: [lo, hi]' or 'answers: [...]'")
        if "range" in spec:
            bounds = spec["range"]
            if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) for b in bounds)
                    and bounds[0] < bounds[1]):
                raise ValueError(f"{where} ({task_id}): range must be [lo, hi] integers with lo < hi")
            built.append(integer_task(task_id, bounds[0], bounds[1], prompt=prompt, name=spec.get("name")))
        else:
            answers = spec["answers"]
            if not (isinstance(answers, list) and len(answers) >= 2 and all(isinstance(a, str) and a for a in answers)
                    and len({a.lower() for a in answers}) == len(answers)):
                raise ValueError(f"{where} ({task_id}): answers must be a list of at least two distinct strings")
            built.append(choice_task(task_id, answers, prompt, name=spec.get("name"),
                                     open_domain=bool(spec.get("open", False))))
    return built
