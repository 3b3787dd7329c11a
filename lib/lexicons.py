"""Lexicons that decide whether an open-domain answer outside the curated list A is real.

An open task (color, fruit, animal, first name, word, emoji) accepts answers outside its curated
list A as "other" answers. Such an answer counts as valid only if a maintained lexicon knows it:

    knows("word", "lantern")       -> True    (wordfreq knows it)
    knows("word", "doritoba")      -> False   (no lexicon does)
    knows("first_name", "Chinedu") -> True    (Faker's Igbo first names)

Every lexicon ships its data inside its wheel and is read from disk on first use; nothing is
downloaded at run time and no model is loaded. The rules judge whether an answer is a real word,
name or emoji, not whether it belongs to the category: "white" passes as a fruit, because
wordfreq knows the word.

`knows` is the decision callers use (A first, then the lexicon); `in_lexicon` is the lexicon alone;
the is_* functions are the rules, one per kind of answer. `LEXICONS` says where each came from.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import pkgutil
import re
from dataclasses import dataclass
from typing import Callable

__all__ = [
    "MIN_ZIPF",
    "MIN_ZIPF_TWO_LETTERS",
    "Lexicon",
    "LEXICONS",
    "LEXICONS_OF_TASK",
    "knows",
    "in_lexicon",
    "is_english_word",
    "is_english_phrase",
    "is_color_name",
    "is_first_name",
    "is_emoji",
]

# -- Thresholds ------------------------------------------------------------------------------------

# wordfreq's Zipf scale: log10 of occurrences per billion words (6 = "the"-like, 3 = once per
# million words). 1.5 sits just below the rarest curated words ("petrichor" 1.6, "quokka" 1.5).
# Between the list's floor (1.0) and 1.5 it is mostly surnames, place names and fragments
# ("saastamoinen", "purifoy"), and SmolLM2's answers there are misspellings and word pieces
# ("inteligent" 1.39, "roset" 1.38, "sman" 1.40). Cost: a few real rarities fall below it
# ("feijoa" 1.09, "ugli" 1.02).
MIN_ZIPF = 1.5
# Nearly every pair of letters is in wordfreq's list ("xq" 1.83, "qx" 2.02), mostly as an
# abbreviation or a typo; two-letter words must be common ("ox" 3.47, "ax" 3.34, "xq" is not).
MIN_ZIPF_TWO_LETTERS = 3.0
# A single letter ("x", "n") is never an answer, however frequent wordfreq says it is.
MIN_LETTERS = 2
# wordfreq's "large" English list (321,180 entries, down to Zipf 1.0), named rather than left to
# wordfreq's default, so the rule does not move if that default does.
WORDFREQ_LIST = "large"

# -- Provenance ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lexicon:
    name: str
    package: str        # the PyPI distribution, pinned in requirements.txt
    version: str        # the installed version, read when this module is imported
    license: str
    data: str           # what the lexicon is, for the report's provenance


def _installed(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


LEXICONS: dict[str, Lexicon] = {lexicon.name: lexicon for lexicon in (
    Lexicon("wordfreq", "wordfreq", _installed("wordfreq"),
            "Apache-2.0 (code); CC BY-SA 4.0 (word lists)",
            f"wordfreq's '{WORDFREQ_LIST}' English word list (Zipf frequencies from Wikipedia, "
            "subtitles, news, books, web text, Twitter and Reddit)"),
    Lexicon("webcolors", "webcolors", _installed("webcolors"), "BSD-3-Clause",
            "the 147 CSS3 colour keywords"),
    Lexicon("gender-guesser", "gender-guesser", _installed("gender-guesser"),
            "GPL-3.0 (code); GNU FDL 1.2+ (nam_dict.txt)",
            "Jörg Michael's nam_dict.txt (2008): about 48,000 first names from 55 countries and regions"),
    Lexicon("faker", "faker", _installed("faker"), "MIT",
            "the first-name lists of Faker's 86 person providers (locales)"),
    Lexicon("emoji", "emoji", _installed("emoji"), "BSD-3-Clause",
            "emoji.EMOJI_DATA: every emoji and emoji sequence in Unicode's emoji-test.txt"),
)}

# Which lexicons judge each open task's answers.
LEXICONS_OF_TASK: dict[str, tuple[str, ...]] = {
    "color": ("webcolors", "wordfreq"),
    "fruit": ("wordfreq",),
    "animal": ("wordfreq",),
    "first_name": ("gender-guesser", "faker"),
    "word": ("wordfreq",),
    "emoji": ("emoji",),
}

# -- The rules -------------------------------------------------------------------------------------

_LETTERS = re.compile(r"[^\W\d_]+")
# Words of letters joined by single spaces or hyphens: "dragon fruit", "non-venomous".
_PHRASE = re.compile(r"[^\W\d_]+(?:[ \-][^\W\d_]+)*")
_SEPARATORS = re.compile(r"[\s\-]+")
# The modifiers lib.parsing drops from emoji answers: variation selectors and skin tones.
_EMOJI_MODIFIERS = re.compile("[\ufe0e\ufe0f\U0001F3FB-\U0001F3FF]")


@functools.lru_cache(maxsize=65536)
def is_english_word(text: str) -> bool:
    """An English word: letters only, at least MIN_LETTERS (2) of them, one token to wordfreq, and a
    Zipf frequency of at least MIN_ZIPF (1.5) in wordfreq's "large" English list, or of at least
    MIN_ZIPF_TWO_LETTERS (3.0) for a two-letter word. Case does not matter; hyphens, spaces,
    apostrophes and digits do ("r-word", "it's" and "b2" are not words here).
    """
    if not _LETTERS.fullmatch(text) or len(text) < MIN_LETTERS:
        return False
    wordfreq = _wordfreq()
    if len(wordfreq.tokenize(text, "en")) != 1:
        return False  # a run wordfreq splits (mixed scripts) has only an estimated frequency
    zipf = wordfreq.zipf_frequency(text, "en", wordlist=WORDFREQ_LIST)
    return zipf >= (MIN_ZIPF_TWO_LETTERS if len(text) == 2 else MIN_ZIPF)


@functools.lru_cache(maxsize=65536)
def is_english_phrase(text: str) -> bool:
    """One or more English words joined by single spaces or hyphens, each word passing
    `is_english_word` on its own: "dragon fruit", "komodo dragons" and "sea-horse" pass,
    "steriocero ferus" does not. The phrase as a whole is not looked up: wordfreq has no
    multi-word entries, so "heath berry" passes because both of its words are real.
    """
    return bool(_PHRASE.fullmatch(text)) and all(is_english_word(word) for word in re.split("[ -]", text))


@functools.lru_cache(maxsize=65536)
def is_color_name(text: str) -> bool:
    """A colour: a CSS3 colour keyword in webcolors, matched without case, spaces or hyphens
    ("light blue" and "Light-Blue" are "lightblue"); or one English word (`is_english_word`), which
    covers colour names CSS lacks ("amethyst"); or an English phrase whose last word is itself a colour
    (a CSS keyword or a member of the curated list): "burnt orange" and "pale mint" pass, while
    "ultimately theirs" and "shelter-dweller indeed", real words but no colour, do not.
    """
    if not _PHRASE.fullmatch(text):
        return False
    if _SEPARATORS.sub("", text).casefold() in _css_color_names():
        return True
    words = re.split("[ -]", text)
    if len(words) == 1:
        return is_english_word(text)
    last = words[-1].casefold()
    return is_english_phrase(text) and (last in _css_color_names() or last in _curated_keys("color"))


@functools.lru_cache(maxsize=65536)
def is_first_name(text: str) -> bool:
    """A first name: the whole answer is a given name in gender-guesser's nam_dict.txt or in one of
    Faker's first-name lists, matched without case and with spaces and hyphens as one separator
    ("Jean Luc" is "Jean-Luc"). A double name counts only where a list holds the pair ("Juan
    Pablo"); a full name such as "Steve Smith" is not a first name and is rejected. Any other
    character must match a listed spelling exactly ("Maria!" is not listed).
    """
    return _name_key(text) in _first_names()


@functools.lru_cache(maxsize=65536)
def is_emoji(text: str) -> bool:
    """An emoji: after dropping variation selectors and skin tones (as lib.parsing does), the text is
    exactly one emoji or emoji sequence (ZWJ sequence, flag, keycap) in emoji.EMOJI_DATA, and not a
    bare component (a skin-tone or hair swatch). ":)", "☳" and made-up ZWJ pairs ("👩‍🌌") are not.
    """
    bare = _EMOJI_MODIFIERS.sub("", text)
    return bool(bare) and bare in _emoji_sequences()


# The rule each open task's answers are judged by.
_RULE_OF_TASK: dict[str, Callable[[str], bool]] = {
    "color": is_color_name,
    "fruit": is_english_phrase,
    "animal": is_english_phrase,
    "first_name": is_first_name,
    "word": is_english_word,
    "emoji": is_emoji,
}


def in_lexicon(task_id: str, answer: str) -> bool:
    """Whether the task's lexicon knows `answer`, by the task's rule:

    - word: `is_english_word` (one word; "two-spirit" is two);
    - fruit, animal: `is_english_phrase`;
    - color: `is_color_name`;
    - first_name: `is_first_name`;
    - emoji: `is_emoji`.

    Raises ValueError for a task without a lexicon (the integer and card-suit tasks, extra tasks).
    """
    return isinstance(answer, str) and _rule(task_id)(answer)


def knows(task_id: str, answer: str) -> bool:
    """Whether `answer` is a real answer to the open task: a member of its curated list A (matched
    as lib.parsing matches: without case, variation selectors or skin tones), or known to the
    task's lexicon (`in_lexicon`). Raises ValueError for a task without a lexicon.
    """
    rule = _rule(task_id)
    if not isinstance(answer, str):
        return False
    return _curated_key(answer) in _curated_keys(task_id) or rule(answer)


def _rule(task_id: str) -> Callable[[str], bool]:
    try:
        return _RULE_OF_TASK[task_id]
    except (KeyError, TypeError):
        raise ValueError(f"no lexicon for task {task_id!r}; tasks with one: {', '.join(_RULE_OF_TASK)}") from None


# -- Loading the lexicons, once each ---------------------------------------------------------------


@functools.cache
def _wordfreq():
    import wordfreq

    return wordfreq


@functools.cache
def _css_color_names() -> frozenset[str]:
    import webcolors

    return frozenset(webcolors.names("css3"))


def _name_key(name: str) -> str:
    return _SEPARATORS.sub(" ", name.strip()).casefold()


@functools.cache
def _first_names() -> frozenset[str]:
    """nam_dict.txt's names (with its '+' pairs in all three spellings) and every first-name list
    (male, female, nonbinary, unisex, romanized, ...) of every Faker person provider."""
    import faker.providers.person
    import gender_guesser.detector

    names = set(gender_guesser.detector.Detector(case_sensitive=True).names)
    for module in pkgutil.iter_modules(faker.providers.person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{module.name}").Provider
        for attribute in dir(provider):
            values = getattr(provider, attribute)
            # Data attributes hold tuples or weighted dicts of names; first_name() and kin are methods.
            if attribute.startswith("first_") and isinstance(values, (tuple, list, dict)):
                names.update(value for value in values if isinstance(value, str))
    return frozenset(_name_key(name) for name in names)


@functools.cache
def _emoji_sequences() -> frozenset[str]:
    import emoji

    component = emoji.STATUS["component"]
    return frozenset(_EMOJI_MODIFIERS.sub("", sequence) for sequence, data in emoji.EMOJI_DATA.items()
                     if data["status"] != component) - {""}


def _curated_key(answer: str) -> str:
    return _EMOJI_MODIFIERS.sub("", answer).casefold()


@functools.cache
def _curated_keys(task_id: str) -> frozenset[str]:
    # Imported here, not at the top: lib.tasks imports lib.parsing, which may come to import this module.
    from . import tasks

    return frozenset(_curated_key(answer) for answer in tasks.get(task_id).answers)
