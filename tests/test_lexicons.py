"""Tests for lib.lexicons: real open-domain answers are known, gibberish is not, curated answers pass."""

import subprocess
import sys
from pathlib import Path

import pytest

from lib import lexicons
from lib.lexicons import LEXICONS, LEXICONS_OF_TASK, in_lexicon, knows
from lib.tasks import TASK_IDS, get, panel
from tests.pins import pins

ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------
# Real answers, on and off the curated lists
# --------------------------------------------------------------------------

REAL = {
    "word": ["river", "lantern", "petrichor", "ox", "café", "Thesaurus"],
    "fruit": ["kiwi", "dragon fruit", "lychee", "loquat", "soursop", "blood orange"],
    "animal": ["otter", "axolotl", "ocelot", "aardvark", "komodo dragon", "snow leopard", "sea-horse"],
    # Each of these is in the lists: Maria, Kenji, Björn, Zoë and José in nam_dict.txt; Chinedu and
    # Ngozi in Faker's ig_NG, Kwame in tw_GH, Aarav and Siddharth in en_IN; Jean-Luc and Juan Pablo
    # as pairs.
    "first_name": ["Maria", "Kenji", "Chinedu", "Ngozi", "Kwame", "Aarav", "Siddharth", "Björn", "Zoë",
                   "José", "Jean-Luc", "Jean Luc", "jean-luc", "Juan Pablo"],
    "color": ["teal", "crimson", "burnt orange", "sky blue", "amethyst", "lightblue", "Light Blue",
              "light-blue", "burlywood", "papayawhip"],
    "emoji": ["🦊", "👍🏽", "👍", "🇯🇵", "❤️", "❤", "❤️‍🔥", "👩🏽‍💻", "🫠", "#️⃣", "🏴󠁧󠁢󠁥󠁮󠁧󠁿"],
}


@pytest.mark.parametrize("task_id, answer", [(t, a) for t, answers in REAL.items() for a in answers])
def test_real_answers_are_known(task_id, answer):
    assert in_lexicon(task_id, answer)
    assert knows(task_id, answer)


# --------------------------------------------------------------------------
# Gibberish and non-answers
# --------------------------------------------------------------------------

GIBBERISH = {
    # The audit's three, found as valid "other" answers in SmolLM2's samples.
    "word": ["alrightyousthehappy", "doritoba", "asdfgh", "xq", "x", "Hello there!", "hello there",
             "two-spirit", "r-word", "b2", "", " ", "appreciаted"],  # the last has a Cyrillic "а"
    "color": ["doritoba", "silverred", "vantabobs", "krusgsaiije", "light blue!", "#ff0000",
              "ultimately theirs", "shelter-dweller indeed"],   # real words, but the last is no colour
    "fruit": ["resupremetres", "daytime pelargonite", "Hello there!", "limex", "feijoa"],
    "animal": ["loxodonta cullinella", "smobull", "n", "lemon juracustastic", "labmouse"],
    # "Steve Smith": both names are real, but a full name is not a first name.
    "first_name": ["Popehsten", "Cheribella", "Passionadilly", "Mustache", "E", "Steve Smith", "Maria!",
                   "Hello there!"],
    "emoji": [":)", "☳", "♢", "🖧", "👩‍🌌", "🦰", "🏽", "", "a", "🦊🦊", "🦊 ", "\U0001f288"],
}


@pytest.mark.parametrize("task_id, answer", [(t, a) for t, answers in GIBBERISH.items() for a in answers])
def test_gibberish_and_non_answers_are_rejected(task_id, answer):
    assert not in_lexicon(task_id, answer)
    assert not knows(task_id, answer)


def test_two_letter_words_must_be_common():
    assert lexicons.is_english_word("ox") and not lexicons.is_english_word("xq")
    assert lexicons.MIN_ZIPF_TWO_LETTERS > lexicons.MIN_ZIPF


# --------------------------------------------------------------------------
# The curated lists A
# --------------------------------------------------------------------------

# Curated answers a lexicon does not know, and why. knows() still accepts them through A.
CURATED_MISSES = {
    "color": {},
    "fruit": {"starfruit": "Zipf 1.42 < MIN_ZIPF: wordfreq's sources mostly write 'star fruit'"},
    "animal": {},
    "first_name": {"Ananya": "in neither nam_dict.txt (2008) nor Faker's hi_IN/en_IN lists",
                   "Haruto": "in neither list: Faker's ja_JP romanized names and nam_dict.txt lack it"},
    "word": {},
    "emoji": {},
}


@pytest.mark.parametrize("task_id", sorted(LEXICONS_OF_TASK))
def test_lexicons_know_the_curated_answers_but_the_listed_exceptions(task_id):
    answers = get(task_id).answers
    missed = {a for a in answers if not in_lexicon(task_id, a)}
    assert missed == set(CURATED_MISSES[task_id])
    assert all(knows(task_id, a) for a in answers)


def test_every_open_task_has_a_lexicon_and_no_other_task_does():
    open_ids = {t.id for t in panel("all") if t.open_domain}
    assert set(LEXICONS_OF_TASK) == open_ids
    for task_id in set(TASK_IDS) - open_ids:
        with pytest.raises(ValueError, match="tasks with one: color"):
            knows(task_id, "5")


def test_knows_matches_curated_answers_as_the_parser_writes_them():
    assert knows("fruit", "Starfruit")
    assert knows("first_name", "haruto")
    assert not in_lexicon("first_name", "haruto")


# --------------------------------------------------------------------------
# Provenance and offline use
# --------------------------------------------------------------------------


def test_lexicon_versions_are_the_pinned_ones():
    pinned = pins("requirements.txt")
    for lexicon in LEXICONS.values():
        assert lexicon.version == pinned[lexicon.package], lexicon.name
        assert lexicon.license and lexicon.data
    assert {name for names in LEXICONS_OF_TASK.values() for name in names} == set(LEXICONS)


def test_lexicons_load_and_answer_without_a_network():
    # A fresh interpreter, so nothing is cached yet; any socket use raises.
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse; socket.getaddrinfo = refuse; socket.create_connection = refuse\n"
        "from lib.lexicons import knows\n"
        "cases = [('word', 'lantern'), ('color', 'lightblue'), ('fruit', 'dragon fruit'),\n"
        "         ('animal', 'otter'), ('first_name', 'Chinedu'), ('emoji', '🦊')]\n"
        "assert all(knows(t, a) for t, a in cases)\n"
        "print('offline ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "offline ok" in run.stdout
