import json

import numpy as np
import pandas as pd
import pytest

from lib import reasoning


@pytest.mark.parametrize("chain, expected", [
    ("She makes 9 * 2 = 18 dollars.\n#### 18", "18"),
    ("#### $1,000", "1000"),
    ("So the total is 1,000 dollars.", "1000"),                 # no '####': the last number
    ("It costs $3.50 per kg, so 2 kg cost $7.00", "7"),           # decimals and $; 7.00 == 7
    ("The temperature drops to -4 degrees.\n#### -4", "-4"),
    ("#### 12\nWait, that is wrong.\n#### 15", "15"),               # the last '####' wins
    ("#### twelve, i.e. 12 apples", "12"),                         # first number after '####'
    ("Answer: 0.5", "0.5"),
    ("I am not sure.", None),
])
def test_extract_answer(chain, expected):
    assert reasoning.extract_answer(chain) == expected


def test_numbers_tell_subtraction_from_a_sign():
    assert reasoning.numbers("16-3-4=9") == ["16", "3", "4", "9"]
    assert reasoning.numbers("x = -3 and (−2) and (-2)") == ["-3", "2", "-2"]
    assert reasoning.numbers("3, 4 and 5; 1,000,000 and 1,5") == ["3", "4", "5", "1000000", "1", "5"]
    assert reasoning.numbers("Janet sells <<16-3-4=9>>9 eggs") == ["9"]   # calculator notes are not the chain


def test_correctness_compares_values_not_strings():
    assert reasoning.is_correct("18.0", "18") and reasoning.is_correct("1000", "1000")
    assert not reasoning.is_correct("17", "18") and not reasoning.is_correct(None, "18")


def test_calculation_path_keeps_new_numbers_in_order_once():
    question = "Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4. She sells each egg for $2."
    chain = "16 - 3 - 4 = 9 eggs left. 9 * 2 = 18. She makes $18.00 a day.\n#### 18"
    assert reasoning.calculation_path(chain, question) == ("9", "18")
    # the same values in another order is another path; different wording with the same values is not
    assert reasoning.calculation_path("She earns 2*9=18 from 9 eggs", question) == ("9", "18")
    assert reasoning.calculation_path("18 dollars from 9 eggs", question) == ("18", "9")
    assert reasoning.calculation_path("She sells 1,000.50 worth, then 0.5 more", "x") == ("1000.5", "0.5")


def test_reference_answers_and_malformed_rows_are_counted(tmp_path):
    rows = [{"question": "What is 2+2?", "answer": "2+2=<<2+2=4>>4\n#### 4"},
            {"question": "How many?", "answer": "no final answer line"},
            {"question": "", "answer": "#### 3"},
            {"answer": "#### 5"},
            ["not", "a", "dict"]]
    path = tmp_path / "gsm8k" / "test.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken json\n")
    problems, source = reasoning.load_problems(str(tmp_path))
    assert [(p.question, p.answer) for p in problems] == [("What is 2+2?", "4")]
    assert source.skipped == 5


def test_problem_sample_is_seeded():
    problems = [reasoning.Problem(i, f"q{i}", str(i)) for i in range(100)]
    first = reasoning.sample_problems(problems, 10, seed=0)
    assert first == reasoning.sample_problems(problems, 10, seed=0)
    assert first != reasoning.sample_problems(problems, 10, seed=1)
    assert [p.index for p in first] == sorted(p.index for p in first) and len(first) == 10


def _chains() -> pd.DataFrame:
    problems = [reasoning.Problem(0, "Tom has 5 apples and buys 3.", "8"),
                reasoning.Problem(1, "A box holds 4 rows of 6.", "24")]
    vanilla = [["5+3=8\n#### 8", "5 + 3 = 8 apples. #### 8", "5*3=15 #### 15"],
               ["4*6=24 #### 24", "4+6=10 #### 10", "I think 4*6 is 24, so #### 24"]]
    trained = [["5+3=8 #### 8", "3+5=8, wait 9 #### 9", "maybe 2 #### 2"],
               ["6*4=24 #### 24", "4*6=20+4=24 #### 24", "#### 10"]]
    answers = pd.DataFrame([dict(condition=condition, train_seed=seed, temperature=1.0, prompt_id=prompt.id, sample=i,
                                 answer=chain)
                            for condition, seed, chains in (("vanilla", np.nan, vanilla), ("trained", 0, trained))
                            for prompt, group in zip(reasoning.as_prompts(problems), chains)
                            for i, chain in enumerate(group)])
    return reasoning.chain_table(answers, problems)


def test_per_problem_counts_correct_chains_and_distinct_paths():
    table = reasoning.problem_table(_chains()).set_index(["condition", "problem"])
    vanilla0, vanilla1 = table.loc[("vanilla", 0)], table.loc[("vanilla", 1)]
    assert (vanilla0["correct"], vanilla0["distinct_all"], vanilla0["distinct_correct"]) == (2, 2, 1)
    assert (vanilla1["correct"], vanilla1["distinct_all"], vanilla1["distinct_correct"]) == (2, 2, 1)
    trained0, trained1 = table.loc[("trained", 0)], table.loc[("trained", 1)]
    assert (trained0["correct"], trained0["distinct_all"]) == (1, 3)          # "8", "8 > 9", "2"
    assert trained1["empty_paths"] == 0 and table["empty_paths"].sum() == 0
    assert (trained1["correct"], trained1["distinct_all"], trained1["distinct_correct"]) == (2, 3, 2)


def test_chains_without_new_numbers_share_the_empty_path():
    problems = [reasoning.Problem(0, "Tom has 5 apples and buys 3.", "8")]
    answers = pd.DataFrame([dict(condition="vanilla", train_seed=np.nan, temperature=1.5, prompt_id="gsm8k0", sample=i,
                                 answer=text) for i, text in enumerate(["apples are nice", "he has 5 and 3", "8"])])
    table = reasoning.problem_table(reasoning.chain_table(answers, problems)).iloc[0]
    assert (table["empty_paths"], table["distinct_all"], table["correct"]) == (2, 2, 1)


def test_no_correct_chain_gives_nan_not_zero_distinct_correct():
    chains = _chains()
    chains["correct"] = False
    table = reasoning.problem_table(chains)
    assert table["distinct_correct"].isna().all()
    summary = reasoning.condition_table(table, n_boot=50)
    assert (summary["n_with_correct"] == 0).all() and summary["distinct_correct"].isna().all()


def test_condition_table_and_paired_difference():
    per_problem = reasoning.problem_table(_chains())
    summary = reasoning.condition_table(per_problem, n_boot=200).set_index("condition")
    assert summary.loc["trained", "distinct_all"] == 3.0 and summary.loc["vanilla", "distinct_all"] == 2.0
    assert summary.loc["trained", "correct"] == 1.5 and summary.loc["vanilla", "n_with_correct"] == 2
    assert summary.loc["trained", "distinct_all_ci_low"] <= 3.0 <= summary.loc["trained", "distinct_all_ci_high"]
    diff = reasoning.paired_difference(per_problem, "trained", "distinct_all", n_boot=200).iloc[0]
    assert diff["difference"] == 1.0 and diff["problems"] == 2 and diff["ci_low"] == diff["ci_high"] == 1.0
    correct = reasoning.paired_difference(per_problem, "trained", "correct", n_boot=200).iloc[0]
    assert correct["difference"] == pytest.approx(-0.5) and correct["ci_low"] <= -0.5 <= correct["ci_high"]


def test_distinct_paths_among_nonempty_chains_leave_the_empty_path_out():
    problems = [reasoning.Problem(0, "Tom has 5 apples and buys 3.", "8")]
    texts = ["apples are nice", "he has 5 and 3", "5+3=8 #### 8", "3+5=8 #### 8", "5*3=15"]
    answers = pd.DataFrame([dict(condition="vanilla", train_seed=np.nan, temperature=1.0, prompt_id="gsm8k0", sample=i,
                                 answer=text) for i, text in enumerate(texts)])
    row = reasoning.problem_table(reasoning.chain_table(answers, problems)).iloc[0]
    assert (row["distinct_all"], row["distinct_nonempty"], row["empty_share"]) == (3, 2, 0.4)   # "8", "15"; 2 of 5 empty
    all_empty = answers.assign(answer="no numbers here")
    row = reasoning.problem_table(reasoning.chain_table(all_empty, problems)).iloc[0]
    assert np.isnan(row["distinct_nonempty"]) and row["empty_share"] == 1.0 and row["distinct_all"] == 1


def test_condition_table_counts_problems_with_a_nonempty_chain():
    summary = reasoning.condition_table(reasoning.problem_table(_chains()), n_boot=50).set_index("condition")
    assert (summary["n_with_nonempty"] == 2).all() and (summary["empty_share"] == 0).all()
    assert summary.loc["trained", "distinct_nonempty"] == 3.0       # no empty chain: equal to distinct_all


def test_paired_difference_carries_the_minimum_detectable_difference():
    per_problem = reasoning.problem_table(_chains())
    row = reasoning.paired_difference(per_problem, "trained", "correct", n_boot=50).iloc[0]
    d = np.array([-1.0, 0.0])                                        # trained − vanilla correct chains per problem
    assert row["mdd"] == pytest.approx(2.8016 * np.sqrt(np.mean(d ** 2) / 2), rel=1e-3)   # (1.960 + 0.842)·SE
    assert np.isnan(reasoning.detectable_difference([0, 0, 0])) and np.isnan(reasoning.detectable_difference([]))
