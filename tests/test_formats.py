"""lib.formats: the strict-format suite and its code checks, on hand-written replies."""
import pytest

from lib import formats

KEYS = (("name", "string"), ("moons", "integer"), ("has_rings", "boolean"))


@pytest.mark.parametrize("reply, passes", [
    ('{"name": "Saturn", "moons": 146, "has_rings": true}', True),
    ('  {"has_rings": true, "moons": 146, "name": "Saturn"}\n', True),                 # key order and spaces
    ('```json\n{"name": "Saturn", "moons": 146, "has_rings": true}\n```', True),       # one fenced block counts
    ('```\n{"name": "Saturn", "moons": 146, "has_rings": true}\n```', True),
    ('Here it is:\n```json\n{"name": "Saturn", "moons": 146, "has_rings": true}\n```', False),   # prose outside
    ('```json\n{"name": "Saturn", "moons": 146, "has_rings": true}\n```\nHope this helps!', False),
    ('{"name": "Saturn", "moons": 146, "has_rings": true', False),                     # malformed: unclosed
    ("{'name': 'Saturn', 'moons': 146, 'has_rings': True}", False),                    # malformed: Python, not JSON
    ('{"name": "Saturn", "moons": "146", "has_rings": true}', False),                  # wrong type
    ('{"name": "Saturn", "moons": 146, "has_rings": 1}', False),                       # 1 is not a boolean
    ('{"name": "Saturn", "moons": true, "has_rings": true}', False),                   # true is not an integer
    ('{"name": "Saturn", "moons": 146}', False),                                        # a key missing
    ('{"name": "Saturn", "moons": 146, "has_rings": true, "color": "gold"}', False),   # an extra key
    ('["Saturn", 146, true]', False),                                                   # not an object
    ("", False),
])
def test_json_check(reply, passes):
    assert formats.check_json(reply, KEYS) is passes


def test_json_types_number_and_list_of_strings():
    keys = (("height_m", "number"), ("countries", "list of strings"))
    assert formats.check_json('{"height_m": 8848.86, "countries": ["Nepal", "China"]}', keys)
    assert formats.check_json('{"height_m": 8849, "countries": []}', keys)              # an integer is a number
    assert not formats.check_json('{"height_m": 8849, "countries": ["Nepal", 2]}', keys)


@pytest.mark.parametrize("reply, passes", [
    ("- apple\n- pear\n- plum", True),
    ("* apple\n* pear\n\n* plum\n", True),
    ("• apple\n• pear\n• plum", True),
    ("- apple\n- pear", False),                              # two, not three
    ("Here are three fruits:\n- apple\n- pear\n- plum", False),  # a line that is not a bullet
    ("1. apple\n2. pear\n3. plum", False),                   # numbered, not bullets
    ("-apple\n-pear\n-plum", False),                         # no space after the marker
    ("", False),
])
def test_bullets_check(reply, passes):
    assert formats.check_bullets(reply, 3) is passes


@pytest.mark.parametrize("reply, passes", [
    ("Blue", True), ("blue.", True), (" Mercury!\n", True), ("well-known", True), ("Blue sky", False),
    ("Blue, obviously", False), ("42", False), ("", False), ("Answer: Blue", False),
])
def test_one_word_check(reply, passes):
    assert formats.check_one_word(reply) is passes


@pytest.mark.parametrize("reply, passes", [
    ("apple, pear, plum", True), ("apple,pear,plum.", True), ("apple, pear", False), ("apple, pear, plum, fig", False),
    ("apple, , plum", False), ("apple,\npear,\nplum", False), ("- apple\n- pear\n- plum", False), ("", False),
])
def test_list_check(reply, passes):
    assert formats.check_list(reply, 3) is passes


def test_suite_is_seeded_and_balanced():
    items = formats.suite(5, seed=0)
    assert [i.format for i in items].count("json") == 5 and len(items) == 20 and len({i.id for i in items}) == 20
    assert items == formats.suite(5, seed=0) and items != formats.suite(5, seed=1)
    for item in items:
        if item.format in ("bullets", "list"):
            assert f"exactly {item.n}" in item.prompt or f"list of {item.n}" in item.prompt
        if item.format == "json":
            assert all(f'"{key}"' in item.prompt for key, _ in item.keys)


def test_item_table_checks_each_reply_against_its_item():
    items = formats.suite(1, seed=0)
    replies = {"json": "not json", "bullets": "\n".join(["- x"] * items[1].n), "one_word": "Paris", "list": ""}
    table = formats.item_table(items, [replies[i.format] for i in items])
    assert dict(zip(table["format"], table["correct"])) == {"json": False, "bullets": True, "one_word": True,
                                                           "list": False}
