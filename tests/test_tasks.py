"""Tests for lib.tasks and lib.answer_sets: each test names the property it protects."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib import answer_sets
from lib.tasks import TASK_IDS, TRAINED_TASK, choice_task, get, integer_task, panel

# --------------------------------------------------------------------------
# Panel and task metadata
# --------------------------------------------------------------------------


def test_panel_has_ten_tasks_in_order():
    tasks = panel()
    assert [t.id for t in tasks] == list(TASK_IDS)
    assert len(tasks) == 10
    assert panel("all") == tasks


def test_panel_accepts_one_id_or_a_sequence_in_the_given_order():
    assert [t.id for t in panel("color")] == ["color"]
    assert [t.id for t in panel(["emoji", "integer_1_10"])] == ["emoji", "integer_1_10"]
    assert get("word") is panel("word")[0]


def test_trained_task_is_in_the_panel():
    assert TRAINED_TASK == "integer_1_100"
    assert get(TRAINED_TASK).kind == "integer"


@pytest.mark.parametrize("call", [get, panel, lambda i: panel(["color", i])])
def test_unknown_task_id_names_the_allowed_ids(call):
    with pytest.raises(ValueError) as err:
        call("integer_1_50")
    message = str(err.value)
    assert "integer_1_50" in message
    assert all(task_id in message for task_id in TASK_IDS)


@pytest.mark.parametrize("task_id, name, kind, k, prompt", [
    ("integer_1_10", "integer 1–10", "integer", 10,
     "Pick a random integer between 1 and 10. Answer with just the number."),
    ("integer_1_100", "integer 1–100", "integer", 100,
     "Pick a random integer between 1 and 100. Answer with just the number."),
    ("integer_1_1000", "integer 1–1000", "integer", 1000,
     "Pick a random integer between 1 and 1000. Answer with just the number."),
    ("card_suit", "card suit", "choice", 4, "Pick a random card suit. Answer with just the suit."),
    ("color", "color", "open", len(answer_sets.COLORS), "Pick a random color. Answer with just the color."),
    ("fruit", "fruit", "open", len(answer_sets.FRUITS), "Pick a random fruit. Answer with just the fruit."),
    ("animal", "animal", "open", len(answer_sets.ANIMALS), "Pick a random animal. Answer with just the animal."),
    ("first_name", "first name", "open", len(answer_sets.FIRST_NAMES),
     "Pick a random first name. Answer with just the name."),
    ("word", "word", "open", len(answer_sets.WORDS), "Pick a random English word. Answer with just the word."),
    ("emoji", "emoji", "open", len(answer_sets.EMOJI), "Pick a random emoji. Answer with just the emoji."),
])
def test_task_metadata_matches_the_protocol(task_id, name, kind, k, prompt):
    task = get(task_id)
    assert (task.name, task.kind, task.k, task.prompt) == (name, kind, k, prompt)
    assert task.open_domain == (kind == "open")


def test_answer_sets_are_the_documented_ones():
    assert get("card_suit").answers == ("Spades", "Hearts", "Diamonds", "Clubs")
    assert get("integer_1_10").answers == tuple(str(i) for i in range(1, 11))
    assert get("word").answers == answer_sets.WORDS
    assert get("emoji").answers == answer_sets.EMOJI


# --------------------------------------------------------------------------
# Answer sets
# --------------------------------------------------------------------------

MINIMUM_SIZES = {"COLORS": 20, "FRUITS": 30, "ANIMALS": 50, "FIRST_NAMES": 100, "WORDS": 200, "EMOJI": 50}
OPEN_TASK_OF_SET = {"COLORS": "color", "FRUITS": "fruit", "ANIMALS": "animal",
                    "FIRST_NAMES": "first_name", "WORDS": "word", "EMOJI": "emoji"}


@pytest.mark.parametrize("set_name", sorted(MINIMUM_SIZES))
def test_answer_sets_meet_minimum_sizes_and_have_no_duplicates(set_name):
    answers = getattr(answer_sets, set_name)
    assert len(answers) >= MINIMUM_SIZES[set_name]
    assert len({a.lower() for a in answers}) == len(answers)
    task = get(OPEN_TASK_OF_SET[set_name])
    for answer in answers:
        assert task.parse(answer) == answer, answer
        assert task.parse_strict(answer) == answer, answer


@pytest.mark.parametrize("set_name, required", [
    ("COLORS", ["purple", "violet", "turquoise", "teal", "magenta", "indigo", "gold", "silver",
                "beige", "maroon", "navy"]),
    ("FRUITS", ["apple", "banana", "mango", "kiwi", "dragon fruit"]),
    ("ANIMALS", ["elephant", "giraffe", "dolphin", "octopus", "penguin"]),
    ("FIRST_NAMES", ["Olivia", "Emma", "Liam", "Noah", "Sophia", "Ava", "Mia", "James", "Lily",
                     "Ethan", "Aria", "Zara", "Luna", "Max"]),
    ("WORDS", ["serendipity", "apple", "ocean", "banana", "happy", "sun", "tree", "book", "river",
               "mountain", "dream", "light"]),
    ("EMOJI", ["😀", "🍎", "🐶", "🌈", "🚀", "🎉", "❤", "🔥", "⭐", "🌟", "🍕", "🎸", "😂", "🥳", "🦄"]),
])
def test_answer_sets_hold_the_answers_models_favour(set_name, required):
    answers = getattr(answer_sets, set_name)
    assert [r for r in required if r not in answers] == []


def test_answer_sets_are_in_canonical_case():
    for name in ("COLORS", "FRUITS", "ANIMALS", "WORDS"):
        assert all(a == a.lower() for a in getattr(answer_sets, name)), name
    assert all(n[:1].isupper() and n[1:] == n[1:].lower() for n in answer_sets.FIRST_NAMES)


def test_emoji_answers_are_bare_without_selectors_or_skin_tones():
    for emoji in answer_sets.EMOJI:
        assert "\ufe0f" not in emoji and "\ufe0e" not in emoji
        assert not any(0x1F3FB <= ord(ch) <= 0x1F3FF for ch in emoji)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_every_canonical_answer_and_surface_form_parses_back_to_itself(task_id):
    task = get(task_id)
    for answer in task.answers:
        for form in task.surface_forms(answer):
            assert task.parse(form) == answer, (answer, form)
            assert task.parse_strict(form) == answer, (answer, form)


# --------------------------------------------------------------------------
# Lenient parsing
# --------------------------------------------------------------------------

LENIENT_CASES = [
    # integers
    ("integer_1_100", "42", "42"),
    ("integer_1_100", "My number is 42.", "42"),
    ("integer_1_100", "**42**", "42"),
    ("integer_1_100", "Sure! I pick 42", "42"),
    ("integer_1_100", "42!", "42"),
    ("integer_1_100", "The random integer between 1 and 100 is 57.", "57"),
    ("integer_1_100", "From 1 to 100, I choose 13", "13"),
    ("integer_1_100", "Here's one (1-100): 100", "100"),
    ("integer_1_100", "A number 1–100: 64", "64"),
    ("integer_1_100", "4.5", None),
    ("integer_1_100", "4.5 or maybe 7", "7"),
    ("integer_1_100", "150", None),
    ("integer_1_100", "150, no wait, 15", "15"),
    ("integer_1_100", "0", None),
    ("integer_1_100", "-5", None),
    ("integer_1_100", "no number here", None),
    ("integer_1_100", "1,000", None),
    ("integer_1_1000", "1,000", "1000"),
    ("integer_1_1000", "I choose 1,000.", "1000"),
    ("integer_1_1000", "Between 1 and 1,000: 999", "999"),
    ("integer_1_10", "7", "7"),
    ("integer_1_10", "Between 1 and 10, I'd say 10.", "10"),
    ("integer_1_10", "3,5", None),
    # card suit: plural canonical, singular and symbol spellings
    ("card_suit", "Spades", "Spades"),
    ("card_suit", "spade", "Spades"),
    ("card_suit", "heart", "Hearts"),
    ("card_suit", "hearts", "Hearts"),
    ("card_suit", "♥", "Hearts"),
    ("card_suit", "♥️", "Hearts"),
    ("card_suit", "♠", "Spades"),
    ("card_suit", "I pick ♣", "Clubs"),
    ("card_suit", "♦", "Diamonds"),
    ("card_suit", "**Diamonds**.", "Diamonds"),
    ("card_suit", "Joker", None),
    # color
    ("color", "**Blue**", "blue"),
    ("color", "*Blue*", "blue"),
    ("color", "__Blue__", "blue"),
    ("color", "`blue`", "blue"),
    ("color", '"Blue"', "blue"),
    ("color", "Blue.", "blue"),
    ("color", "Sure! Here is a random color: Teal", "teal"),
    ("color", "My random color is **Grey**.", "gray"),
    ("color", "I'll go with turquoise!", "turquoise"),
    ("color", "How about purple?", "purple"),
    ("color", "Blue: the color of a clear sky", "blue"),
    ("color", "I think I'd say navy blue", "navy"),
    ("color", "Taupe", "taupe"),
    ("color", "Sky blue", "blue"),
    ("color", "I can't do that", None),
    ("color", "Sure.", None),
    ("color", "hello there my friend", None),
    ("color", "", None),
    # fruit: plurals, multi-word members, aliases
    ("fruit", "Apples", "apple"),
    ("fruit", "cherries", "cherry"),
    ("fruit", "peaches", "peach"),
    ("fruit", "Mangoes", "mango"),
    ("fruit", "Dragon fruit", "dragon fruit"),
    ("fruit", "dragon-fruit", "dragon fruit"),
    ("fruit", "Dragonfruit", "dragon fruit"),
    ("fruit", "I pick a kiwi.", "kiwi"),
    ("fruit", "A banana!", "banana"),
    ("fruit", "Durian, because it smells wild.", "durian"),
    ("fruit", "Salak", "salak"),
    # animal
    ("animal", "Octopi", "octopus"),
    ("animal", "mice", "mouse"),
    ("animal", "Wolves", "wolf"),
    ("animal", "An okapi", "okapi"),
    ("animal", "Red pandas", "red panda"),
    ("animal", "The animal is a Platypus", "platypus"),
    ("animal", "Hippo", "hippopotamus"),
    ("animal", "There is a polar bear and a bear", "polar bear"),
    # first name
    ("first_name", "olivia", "Olivia"),
    ("first_name", "**Liam**", "Liam"),
    ("first_name", "Sure! How about Luna?", "Luna"),
    ("first_name", "My random first name is Max.", "Max"),
    ("first_name", "Name: Zara", "Zara"),
    ("first_name", "BARTHOLOMEW", "Bartholomew"),
    # word
    ("word", "Serendipity", "serendipity"),
    ("word", "The word is **ocean**.", "ocean"),
    ("word", 'My word: "lantern"', "lantern"),
    ("word", "Lantern.", "lantern"),
    ("word", 'How about "ephemeral"?', "ephemeral"),
    ("word", 'I chose "lantern", which gives light', "lantern"),
    ("word", "Ocean waves crash", "ocean"),
    ("word", "quick brown", None),
    ("word", "I have no idea what to say here", None),
    # emoji
    ("emoji", "❤️", "❤"),
    ("emoji", "❤", "❤"),
    ("emoji", "👍🏽", "👍"),
    ("emoji", "🍎", "🍎"),
    ("emoji", "Here you go: 🦄!", "🦄"),
    ("emoji", "→ 🎉", "🎉"),
    ("emoji", "🦩", "🦩"),
    ("emoji", "👩🏽‍💻", "👩‍💻"),
    ("emoji", "🇯🇵", "🇯🇵"),
    ("emoji", "no emoji at all", None),
]


@pytest.mark.parametrize("task_id, reply, expected", LENIENT_CASES)
def test_lenient_parse(task_id, reply, expected):
    assert get(task_id).parse(reply) == expected


@pytest.mark.parametrize("task_id, reply", [
    ("color", "Taupe"), ("fruit", "Salak"), ("first_name", "Bartholomew"),
    ("word", 'My word: "lantern"'), ("emoji", "🦩"),
])
def test_open_tasks_keep_valid_off_list_answers_as_other(task_id, reply):
    task = get(task_id)
    answer = task.parse(reply)
    assert answer is not None and answer not in task.answers


@pytest.mark.parametrize("task_id, reply, unchecked", [
    ("word", "doritoba", "doritoba"), ("first_name", "Popehsten", "Popehsten"),
    ("word", "alrightyousthehappy", "alrightyousthehappy"), ("word", "Well-being", "well-being"),
    ("first_name", "mary-jane", "Mary-Jane"), ("first_name", "Zephyrine", "Zephyrine"),
])
def test_off_list_answers_no_lexicon_knows_are_invalid(task_id, reply, unchecked):
    task = get(task_id)
    assert task.parse_unchecked(reply) == unchecked      # the parser reads an answer ...
    assert task.parse(reply) is None and task.parse_strict(reply) is None   # ... that no lexicon knows


def test_only_open_tasks_with_a_lexicon_are_checked():
    assert {t.id for t in panel() if t.parse_unchecked is not None} == {
        "color", "fruit", "animal", "first_name", "word", "emoji"}


# --------------------------------------------------------------------------
# Strict parsing
# --------------------------------------------------------------------------

STRICT_CASES = [
    ("integer_1_100", "42", "42"),
    ("integer_1_100", " 42\n", "42"),
    ("integer_1_100", "**42**", "42"),
    ("integer_1_100", "`42`", "42"),
    ("integer_1_100", "42.", "42"),
    ("integer_1_100", "42!", "42"),
    ("integer_1_100", "42..", None),
    ("integer_1_100", "101", None),
    ("integer_1_100", "4.5", None),
    ("integer_1_1000", "1,000", "1000"),
    ("card_suit", "Hearts", "Hearts"),
    ("card_suit", "heart.", "Hearts"),
    ("card_suit", "♠️", "Spades"),
    ("card_suit", "Joker", None),
    ("color", "**Blue**", "blue"),
    ("color", "*Blue*", "blue"),
    ("color", '"Blue"', "blue"),
    ("color", "Blue!", "blue"),
    ("color", "Taupe", "taupe"),
    ("color", "blue?", None),
    ("fruit", "Apples", "apple"),
    ("fruit", "dragon fruit", "dragon fruit"),
    ("fruit", "A banana", None),
    ("first_name", "olivia", "Olivia"),
    ("first_name", "Bartholomew", "Bartholomew"),
    ("word", "ocean", "ocean"),
    ("word", "Lantern.", "lantern"),
    ("word", "blue sky", None),
    ("emoji", "❤️", "❤"),
    ("emoji", "👍🏽", "👍"),
    ("emoji", "🦩", "🦩"),
    ("emoji", "🍎🍌", None),
    ("emoji", "🍎 apple", None),
]


@pytest.mark.parametrize("task_id, reply, expected", STRICT_CASES)
def test_strict_parse(task_id, reply, expected):
    assert get(task_id).parse_strict(reply) == expected


@pytest.mark.parametrize("task_id, reply, lenient", [
    ("integer_1_100", "Sure! 42", "42"),
    ("integer_1_100", "My number is 42.", "42"),
    ("integer_1_100", "The random integer between 1 and 100 is 57.", "57"),
    ("card_suit", "Sure! Clubs", "Clubs"),
    ("card_suit", "I pick ♣", "Clubs"),
    ("color", "Sure! Here is a random color: Teal", "teal"),
    ("color", "How about purple?", "purple"),
    ("color", "Sure.", None),
    ("fruit", "I pick a kiwi.", "kiwi"),
    ("fruit", "A banana!", "banana"),
    ("first_name", "Name: Zara", "Zara"),
    ("word", "The word is **ocean**.", "ocean"),
    ("emoji", "Here you go: 🦄!", "🦄"),
])
def test_strict_rejects_chatter_that_lenient_reads(task_id, reply, lenient):
    task = get(task_id)
    assert task.parse(reply) == lenient
    assert task.parse_strict(reply) is None


# --------------------------------------------------------------------------
# Robustness
# --------------------------------------------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=200)
PARSER_CALLS = [(task_id, strict) for task_id in TASK_IDS for strict in (False, True)]


@pytest.mark.parametrize("task_id, strict", PARSER_CALLS)
@settings(max_examples=300, deadline=None)
@given(reply=ANY_TEXT)
def test_parser_never_raises(task_id, strict, reply):
    task = get(task_id)
    result = (task.parse_strict if strict else task.parse)(reply)
    assert result is None or (isinstance(result, str) and result != "")


NOISE = st.sampled_from(["", " ", "**", '"', "`", ".", "!", "Sure! ", "The ", "s", "es", "\ufe0f",
                         "🏽", "\n", ":", "I pick ", " is it", "1", "?", "-"])


@pytest.mark.parametrize("task_id", TASK_IDS)
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_strict_answer_always_equals_the_lenient_answer(task_id, data):
    task = get(task_id)
    near_answer = st.builds(lambda a, b, c, d: a + b + c + d,
                            NOISE, NOISE, st.sampled_from(task.answers), NOISE)
    reply = data.draw(st.one_of(near_answer, ANY_TEXT))
    strict = task.parse_strict(reply)
    assert strict is None or strict == task.parse(reply)


@pytest.mark.parametrize("task_id", TASK_IDS)
@pytest.mark.parametrize("reply", [
    "9" * 100_000, "1" + ",000" * 2000, "*" * 50_000, '"' * 50_001, "a " * 50_000,
    "\x00\x01\x1b[31m", "\ud800", "\u200d" * 10, "🏽" * 10, "\ufe0f", "   ",
])
def test_parsers_return_none_or_text_on_huge_and_odd_inputs(task_id, reply):
    task = get(task_id)
    for parse in (task.parse, task.parse_strict):
        result = parse(reply)
        assert result is None or isinstance(result, str)


# --------------------------------------------------------------------------
# Surface forms
# --------------------------------------------------------------------------

@pytest.mark.parametrize("task_id, answer, forms", [
    ("integer_1_100", "42", ("42",)),
    ("color", "blue", ("blue", "Blue")),
    ("fruit", "dragon fruit", ("dragon fruit", "Dragon fruit")),
    ("card_suit", "Spades", ("Spades", "spades")),
    ("first_name", "Olivia", ("Olivia",)),
    ("emoji", "❤", ("❤", "❤\ufe0f")),
    ("emoji", "🍎", ("🍎",)),
])
def test_surface_forms(task_id, answer, forms):
    assert get(task_id).surface_forms(answer) == forms


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_surface_forms_start_with_the_canonical_and_have_no_repeats(task_id):
    task = get(task_id)
    for answer in task.answers:
        forms = task.surface_forms(answer)
        assert forms[0] == answer
        assert len(set(forms)) == len(forms)


# --------------------------------------------------------------------------
# Constructors
# --------------------------------------------------------------------------

def test_integer_task_builds_range_prompt_and_name():
    task = integer_task("integer_5_15", 5, 15)
    assert task.answers == tuple(str(i) for i in range(5, 16))
    assert task.prompt == "Pick a random integer between 5 and 15. Answer with just the number."
    assert task.name == "integer 5–15"
    assert task.parse("Between 5 and 15: 4, no, 12") == "12"
    with pytest.raises(ValueError):
        integer_task("bad", 10, 1)


def test_choice_task_rejects_duplicate_answers():
    with pytest.raises(ValueError):
        choice_task("dup", ["red", "Red"], "Pick a color.")


def test_choice_task_infers_emoji_style_and_respects_kind():
    emoji = choice_task("faces", ["😀", "😂"], "Pick a face.", open_domain=True)
    assert emoji.parse("I pick 😂!") == "😂"
    closed = choice_task("coin", ["heads", "tails"], "Flip a coin.")
    assert closed.kind == "choice" and not closed.open_domain
    assert closed.parse("Tails!") == "tails"
    assert closed.parse("edge") is None  # closed sets have no "other"


@pytest.mark.parametrize("reply", ["Choose a unique integer between 1 and", "Pick one from 1 to"])
def test_echo_cut_off_by_the_token_limit_is_not_an_answer(reply):
    assert get("integer_1_10").parse(reply) is None
