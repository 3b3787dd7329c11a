"""The task panel: categorical prompts, their answer sets and reply parsers.

A Task bundles a prompt, its canonical answer set A and two parsers.
`parse` is lenient (digs the answer out of a chatty reply); `parse_strict`
accepts only a bare answer. The gap between them measures format compliance,
not choice. Parsers never raise: None means "no valid answer".

Kinds: "integer" (A is a range), "choice" (A is exhaustive, e.g. card suits)
and "open" (A is a curated list; other valid answers come back as "other"
strings outside A instead of None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from . import answer_sets

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
    parse: Callable[[str], str | None]
    parse_strict: Callable[[str], str | None]
    style: str = "word"

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


# --------------------------------------------------------------------------
# Text normalisation shared by all parsers
# --------------------------------------------------------------------------

# Cap on peel-one-layer loops; real replies have two or three layers at most.
_MAX_LAYERS = 10
_CURLY_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})
# Variation selectors and skin tones change how an emoji looks, not which emoji it is.
_EMOJI_MODIFIERS = re.compile("[\ufe0e\ufe0f\U0001F3FB-\U0001F3FF]")
_SEPARATOR_RUN = re.compile(r"[\s\-‐–—_]+")
_LETTER_RUN = re.compile(r"[^\W\d_]+")
# Wrappers around a whole bare answer, longest first so "**" is peeled before "*".
_WRAPPERS = (("```", "```"), ("**", "**"), ("__", "__"), ("*", "*"), ("_", "_"),
             ("`", "`"), ('"', '"'), ("'", "'"), ("«", "»"))


def _drop_emoji_modifiers(text: str) -> str:
    return _EMOJI_MODIFIERS.sub("", text)


def _key(text: str) -> str:
    """Lookup key: lowercase, no emoji modifiers, spaces/hyphens collapsed to one space."""
    text = _drop_emoji_modifiers(text.translate(_CURLY_QUOTES)).lower()
    return _SEPARATOR_RUN.sub(" ", text).strip()


def _unwrap_once(text: str) -> str:
    for opener, closer in _WRAPPERS:
        if len(text) > len(opener) + len(closer) and text.startswith(opener) and text.endswith(closer):
            return text[len(opener):-len(closer)]
    return text


def _strict_trim(text: str) -> str:
    """The light trim strict parsing allows: whitespace, wrappers, ONE trailing '.' or '!'."""
    text = text.translate(_CURLY_QUOTES).strip()
    punct_used = False
    for _ in range(_MAX_LAYERS):
        before = text
        text = _unwrap_once(text).strip()
        if not punct_used and text[-1:] in (".", "!"):
            text, punct_used = text[:-1].rstrip(), True
        if text == before:
            break
    return text


def _loose_trim(text: str) -> str:
    """Lenient trim: also stray markdown, bullets and any trailing punctuation."""
    for _ in range(_MAX_LAYERS):
        before = text
        text = text.strip().strip("*_`~").rstrip(".!?,;:…").lstrip("-•>#").strip()
        text = _unwrap_once(text)
        if text == before:
            break
    return text


# --------------------------------------------------------------------------
# Integers
# --------------------------------------------------------------------------

# An integer token, optionally with thousands commas. The look-arounds reject
# pieces of decimals ("4.5") and of malformed groupings ("3,5"), so those
# yield no integer at all instead of a wrong one.
_INTEGER = re.compile(r"(?<![0-9.,])([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?![0-9]|[.,][0-9])")
_STRICT_INTEGER = re.compile(r"-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)")
# Beyond this many significant digits a number is out of any task's range;
# the cap also keeps int() clear of its 4300-digit conversion limit.
_MAX_DIGITS = 18


def _to_int(token: str) -> int | None:
    negative = token.startswith("-")
    digits = token.lstrip("-").replace(",", "").lstrip("0") or "0"
    if len(digits) > _MAX_DIGITS:
        return None
    return -int(digits) if negative else int(digits)


def _range_echo(lo: int, hi: int) -> re.Pattern[str]:
    """Matches the reply echoing the task's range ("between 1 and 100", "1-100")."""
    def number(n: int) -> str:
        return "(?:" + "|".join(re.escape(s) for s in dict.fromkeys((f"{n:,}", str(n)))) + ")"

    # The second branch is an echo cut off by the token limit ("… between 1 and" at the very end).
    return re.compile(
        rf"(?:\b(?:between|from)\s+)?(?<![0-9.,]){number(lo)}"
        rf"\s*(?:and|to|through|-|–|—|−)\s*{number(hi)}(?![0-9]|[.,][0-9])"
        rf"|\b(?:between|from)\s+{number(lo)}\s*(?:and|to)?\s*$",
        re.IGNORECASE,
    )


class _IntegerParser:
    """Lenient: the first integer in [lo, hi] after removing echoes of the range."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.echo = _range_echo(lo, hi)

    def __call__(self, reply: str) -> str | None:
        text = self.echo.sub(" ", reply)
        for match in _INTEGER.finditer(text):
            value = _to_int(match.group())
            if value is not None and _is_negated(text, match.start()):
                value = -value
            if value is not None and self.lo <= value <= self.hi:
                return str(value)
        return None


def _is_negated(text: str, start: int) -> bool:
    """A minus sign directly before the digits, not a hyphen inside a word ("x-5")."""
    if start == 0 or text[start - 1] not in "-−":
        return False
    return start == 1 or not text[start - 2].isalnum()


class _StrictIntegerParser:
    """Strict: the trimmed reply is exactly one in-range integer ("1,000" allowed)."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, reply: str) -> str | None:
        text = _strict_trim(reply)
        if not _STRICT_INTEGER.fullmatch(text):
            return None
        value = _to_int(text)
        return str(value) if value is not None and self.lo <= value <= self.hi else None


# --------------------------------------------------------------------------
# Answer index: canonical forms, aliases and plural inflections
# --------------------------------------------------------------------------

# Irregular plurals of words in the panel's lists; regular ones are generated.
_IRREGULAR_PLURALS = {
    "mouse": ("mice",), "goose": ("geese",), "octopus": ("octopi", "octopuses"),
    "hippopotamus": ("hippopotami", "hippopotamuses"), "platypus": ("platypuses",),
    "cactus": ("cacti",), "child": ("children",), "person": ("people",),
    "man": ("men",), "woman": ("women",), "tooth": ("teeth",), "foot": ("feet",),
}


def _plurals(phrase: str) -> set[str]:
    """Plural spellings of a lowercase phrase, inflecting its last word."""
    head, _, last = phrase.rpartition(" ")
    forms = set(_IRREGULAR_PLURALS.get(last, ())) | {last + "s"}
    if last.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.add(last + "es")
    if len(last) > 1 and last.endswith("y") and last[-2] not in "aeiou":
        forms.add(last[:-1] + "ies")
    if last.endswith("f"):
        forms.add(last[:-1] + "ves")
    if last.endswith("fe") and not last.endswith("ffe"):
        forms.add(last[:-2] + "ves")
    return {f"{head} {form}" if head else form for form in forms}


def _singulars(phrase: str) -> set[str]:
    """Singular spelling of a phrase whose canonical form is plural ("spades" -> "spade")."""
    head, _, last = phrase.rpartition(" ")
    if last.endswith("ies") and len(last) > 3:
        form = last[:-3] + "y"
    elif last.endswith(("ches", "shes", "xes", "sses", "zes")):
        form = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 2:
        form = last[:-1]
    else:
        return set()
    return {f"{head} {form}" if head else form}


class _AnswerIndex:
    """Maps reply spellings to canonical answers, for whole replies and for search."""

    def __init__(self, answers: Sequence[str], style: str, aliases: Mapping[str, str]) -> None:
        exact: dict[str, str] = {}
        for answer in answers:
            if _key(answer) in exact:
                raise ValueError(f"duplicate answer {answer!r} (same as {exact[_key(answer)]!r})")
            exact[_key(answer)] = answer
        for alias, target in aliases.items():
            if target not in answers:
                raise ValueError(f"alias {alias!r} points to {target!r}, which is not an answer")
            exact.setdefault(_key(alias), target)
        if style == "word":
            # setdefault: a real answer always beats another answer's inflection.
            for spelling, canonical in list(exact.items()):
                if _is_words(spelling):
                    for form in _plurals(spelling) | _singulars(spelling):
                        exact.setdefault(form, canonical)
        self.exact = exact
        # Letter-only spellings are searched as runs of whole words; the rest
        # (suit symbols) as plain substrings.
        self.words = {" ".join(_LETTER_RUN.findall(s)): c for s, c in exact.items() if _is_words(s)}
        self.symbols = {s: c for s, c in exact.items() if not _is_words(s)}
        self.max_words = max((w.count(" ") + 1 for w in self.words), default=0)

    def get(self, text: str) -> str | None:
        return self.exact.get(_key(text))

    def search(self, text: str) -> str | None:
        """Earliest answer occurring as whole words (longest wins at one position)."""
        low = _drop_emoji_modifiers(text.translate(_CURLY_QUOTES)).lower()
        best_pos, best = len(low) + 1, None
        tokens = list(_LETTER_RUN.finditer(low))
        for i, token in enumerate(tokens):
            found = self._words_at(low, tokens, i)
            if found is not None:
                best_pos, best = token.start(), found
                break
        for symbol, canonical in self.symbols.items():
            pos = low.find(symbol)
            if 0 <= pos < best_pos:
                best_pos, best = pos, canonical
        return best

    def _words_at(self, low: str, tokens: list[re.Match[str]], i: int) -> str | None:
        for n in range(min(self.max_words, len(tokens) - i), 0, -1):
            run = tokens[i:i + n]
            # Words of one answer may be split by a space, a hyphen or an apostrophe only.
            gaps = (low[a.end():b.start()].strip() for a, b in zip(run, run[1:]))
            if all(gap in ("", "-", "'") for gap in gaps):
                found = self.words.get(" ".join(t.group() for t in run))
                if found is not None:
                    return found
        return None


def _is_words(spelling: str) -> bool:
    return bool(spelling) and all(ch.isalpha() or ch in " '-" for ch in spelling)


# --------------------------------------------------------------------------
# Choice and open-domain answers
# --------------------------------------------------------------------------

# Chatter before the answer, peeled off repeatedly from the start of the reply.
# Order matters: specific clauses before the bare article, so "The answer is"
# goes as a whole.
_LEAD_INS = tuple(re.compile(pattern, re.IGNORECASE) for pattern in (
    # interjections: "Sure!", "Okay,", "Alright."; not "Well-being"
    r"(?:sure(?: thing)?|ok(?:ay)?|alright|all right|certainly|of course|absolutely"
    r"|great|well|hmm+|yes|got it|here goes|here you go)(?=[\s!,.:;…]|$)[\s!,.:;…]*",
    # a short label ending in a colon: "Here is a random color:", "My word:"
    r"(?:[^\s:]+\s+){0,7}[^\s:]+\s*:\s*",
    # "My random color is", "The word I picked is", "My pick would be"
    r"(?:my|the)(?:\s+[\w']+){0,4}?\s+(?:is|would be|will be)\s+",
    # "I pick", "I'll go with", "Let's go with", "I think I'd say"
    r"(?:i|i'll|i will|i'd|i would|i'm|i am|let's|let me|we'll)(?:\s+[\w']+){0,2}?"
    r"\s+(?:pick|picked|choose|chose|select|selected|go with|going with|say|suggest)\b\s*",
    r"(?:how|what) about\s+",
    r"(?:a|an|the)\s+(?=\S)",
))
# "other" answers must look like a bare answer: at most this long, letters only.
_MAX_OTHER_CHARS = 40
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
# Spans a model marks as its answer: bold, italics, code, quotes. The length
# bound keeps matching linear on huge replies.
_EMPHASIS = tuple(re.compile(pattern) for pattern in (
    r"\*\*([^*\n]{1,60})\*\*",
    r"__([^_\n]{1,60})__",
    r"(?<![*\w])\*([^*\n]{1,60})\*(?![*\w])",
    r"(?<![_\w])_([^_\n]{1,60})_(?![_\w])",
    r"`([^`\n]{1,60})`",
    r'"([^"\n]{1,60})"',
    r"(?<!\w)'([^'\n]{1,60})'(?!\w)",
))


def _drop_lead_ins(text: str, lead_ins: Sequence[re.Pattern[str]]) -> str:
    for _ in range(_MAX_LAYERS):
        text = _loose_trim(text)
        for pattern in lead_ins:
            match = pattern.match(text)
            if match and match.end() > 0:
                text = text[match.end():]
                break
        else:
            return text
    return _loose_trim(text)


def _emphasised_spans(text: str) -> list[str]:
    found = sorted((m.start(), m.group(1)) for p in _EMPHASIS for m in p.finditer(text))
    # "**Answer:**" is a label, not an answer.
    return [span for _, span in found if not span.rstrip().endswith(":")]


def _as_other(text: str, style: str, max_words: int) -> str | None:
    """`text` as an off-list answer if it is 1..max_words words of letters, else None."""
    words = text.split()
    if not 1 <= len(words) <= max_words or len(text) > _MAX_OTHER_CHARS:
        return None
    if not all(_WORD.fullmatch(word) for word in words):
        return None
    if words[0].lower().split("'")[0] == "i":
        return None  # "I can't", "I'm sorry": a refusal, not an answer
    if style == "name":
        return " ".join("-".join(p[:1].upper() + p[1:].lower() for p in w.split("-")) for w in words)
    return " ".join(words).lower()


class _ChoiceReader:
    """Parsers for "choice" and "open" tasks with word or name answers.

    One reading rule serves both modes, so a strict answer, when there is one,
    always equals the lenient answer for the same reply.
    """

    def __init__(self, index: _AnswerIndex, open_domain: bool, style: str,
                 other_max_words: int, noun: str) -> None:
        self.index, self.open_domain, self.style = index, open_domain, style
        self.other_max_words = other_max_words
        # Also peel the task's own noun: "color: teal", "the fruit mango".
        noun_lead_in = re.compile(rf"{re.escape(noun)}s?\s*[:\-–—]?\s+(?=\S)", re.IGNORECASE)
        self.lead_ins = _LEAD_INS + (noun_lead_in,)

    def lenient(self, reply: str) -> str | None:
        text = reply.translate(_CURLY_QUOTES)
        trimmed = _loose_trim(text)
        core = _drop_lead_ins(trimmed, self.lead_ins)
        found = self.index.get(trimmed) or self.index.get(core)
        if found:
            return found
        # A marked span beats the first list member, which may sit in an explanation.
        for span in _emphasised_spans(text):
            found = self._read(_loose_trim(span))
            if found:
                return found
        return self.index.search(text) or self._read(core)

    def strict(self, reply: str) -> str | None:
        text = _strict_trim(reply)
        if any(pattern.match(text) for pattern in self.lead_ins):
            return self.index.get(text)  # chatter ("Sure! Blue", "A zebra") is not a bare answer
        return self._read(text)

    def _read(self, text: str) -> str | None:
        """A candidate answer text: a member of A, else (open tasks) a short "other".

        A short reply that contains a member reads as that member ("Sky blue" ->
        "blue"), the same as when the member is found by searching a long reply.
        """
        found = self.index.get(text)
        if found or not self.open_domain:
            return found
        other = _as_other(text, self.style, self.other_max_words)
        if other is None:
            return None
        return self.index.search(text) or other


# --------------------------------------------------------------------------
# Emoji
# --------------------------------------------------------------------------

# Approximate Unicode emoji ranges: pictographs are always emoji; symbols that
# are ordinary text by default (©, ↔, ...) count only with U+FE0F after them,
# so arrows in prose are not mistaken for an answer.
_EMOJI_CHAR = ("[\u231a\u231b\u2328\u23cf\u23e9-\u23f3\u23f8-\u23fa\u2600-\u27bf"
               "\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\U0001F000-\U0001F3FA\U0001F400-\U0001FAFF]")
_TEXT_SYMBOL_AS_EMOJI = ("[\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u24c2"
                         "\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2934\u2935\u3030\u303d\u3297\u3299]\ufe0f")
_KEYCAP = "[0-9#*]\ufe0f?\u20e3"
_FLAG = "[\U0001F1E6-\U0001F1FF]{2}"
_EMOJI_SUFFIX = "[\ufe0e\ufe0f\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]"
_EMOJI_ELEMENT = f"(?:{_KEYCAP}|{_FLAG}|{_TEXT_SYMBOL_AS_EMOJI}|{_EMOJI_CHAR}{_EMOJI_SUFFIX}*)"
# ZWJ sequences ("👩‍💻") stay one emoji.
_EMOJI_SEQUENCE = re.compile(f"{_EMOJI_ELEMENT}(?:\u200d{_EMOJI_ELEMENT})*")


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


class _EmojiParser:
    """Lenient: the first emoji anywhere. Strict: the trimmed reply is exactly one emoji.

    Either way the result drops U+FE0F/U+FE0E and skin tones; emoji outside A
    come back as they are ("other").
    """

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def __call__(self, reply: str) -> str | None:
        if self.strict:
            match = _EMOJI_SEQUENCE.fullmatch(_strict_trim(reply))
            if match is None:
                return None
            return _drop_emoji_modifiers(match.group()) or None
        for match in _EMOJI_SEQUENCE.finditer(reply):
            emoji = _drop_emoji_modifiers(match.group())
            if emoji:
                return emoji
        return None


# --------------------------------------------------------------------------
# Task constructors and the panel
# --------------------------------------------------------------------------

def integer_task(id: str, lo: int, hi: int, prompt: str | None = None, name: str | None = None) -> Task:
    if lo > hi:
        raise ValueError(f"integer task {id!r}: lo={lo} > hi={hi}")
    return Task(
        id=id,
        name=name if name is not None else f"integer {lo}–{hi}",
        prompt=prompt if prompt is not None else f"Pick a random integer between {lo} and {hi}. Answer with just the number.",
        answers=tuple(str(i) for i in range(lo, hi + 1)),
        kind="integer",
        parse=_IntegerParser(lo, hi),
        parse_strict=_StrictIntegerParser(lo, hi),
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
        parse, parse_strict = _EmojiParser(strict=False), _EmojiParser(strict=True)
    else:
        index = _AnswerIndex(answers, style, aliases or {})
        noun = name.split()[-1] if name.split() else id
        reader = _ChoiceReader(index, open_domain, style, other_max_words, noun)
        parse, parse_strict = reader.lenient, reader.strict
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
    return {task.id: task for task in tasks}


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
