"""From a free-text reply to a canonical answer: the parsers every task reads replies with.

The lenient parser digs the answer out of a chatty reply ("Sure! My color is **teal**." -> "teal");
the strict one accepts only a bare answer, trimmed of whitespace, quotes, markdown and at most one
trailing '.' or '!'. Parsers never raise: None means "no valid answer". This module owns the text
normalisation they share and the readers for integers, word and name answers (aliases, plurals,
lead-ins, "other" answers) and emoji; lib.tasks builds its tasks from the three *_parsers functions.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence

__all__ = ["Parser", "integer_parsers", "choice_parsers", "emoji_parsers"]

Parser = Callable[[str], "str | None"]   # a reply -> its canonical answer, or None


def integer_parsers(lo: int, hi: int) -> tuple[Parser, Parser]:
    """(lenient, strict) parsers for an integer answer in [lo, hi]."""
    return _IntegerParser(lo, hi), _StrictIntegerParser(lo, hi)


def choice_parsers(answers: Sequence[str], style: str, aliases: Mapping[str, str], *, open_domain: bool,
                   other_max_words: int, noun: str) -> tuple[Parser, Parser]:
    """(lenient, strict) parsers for word or name answers; `noun` is peeled as a lead-in ("color: teal").

    Raises ValueError for a duplicate answer or an alias that points outside `answers`.
    """
    reader = _ChoiceReader(_AnswerIndex(answers, style, aliases), open_domain, style, other_max_words, noun)
    return reader.lenient, reader.strict


def emoji_parsers() -> tuple[Parser, Parser]:
    """(lenient, strict) parsers for emoji answers: the first emoji, or exactly one emoji."""
    return _EmojiParser(strict=False), _EmojiParser(strict=True)


# -- Text normalisation shared by all parsers ------------------------------------------------------

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


# -- Integers --------------------------------------------------------------------------------------

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


# -- Answer index: canonical forms, aliases and plural inflections ---------------------------------

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


# -- Choice and open-domain answers ----------------------------------------------------------------

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


# -- Emoji -----------------------------------------------------------------------------------------

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
