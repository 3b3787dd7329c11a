"""The benchmarks' model-free parts."""
from lib import bench


def test_prefill_tokens_counts_what_the_prefix_cache_cannot_serve():
    # a 5-token prompt, blocks of 4: the root computes the prompt; each one-token child request (6 tokens) finds
    # the one full block its parent filled and computes the other 2; a prefill per answer computes all 7
    answers = [[1, 9], [2, 9]]
    assert bench.prefill_tokens(5, answers, block_size=4) == (5 + 2 + 2, 7 + 7)
    # blocks of one token: a child request computes only its last token
    assert bench.prefill_tokens(5, answers, block_size=1) == (5 + 1 + 1, 14)
    # blocks longer than every request: nothing is ever cached, so each request computes its whole length
    assert bench.prefill_tokens(5, answers, block_size=64) == (5 + 6 + 6, 14)


def test_prefill_tokens_ratio_grows_as_blocks_shrink():
    answers = [[d, e, 0] for d in range(1, 10) for e in range(10)]        # 90 two-token answers + an end token
    ratios = [naive / trie for trie, naive in (bench.prefill_tokens(50, answers, b) for b in (64, 32, 16, 8))]
    assert ratios == sorted(ratios) and ratios[0] < 1 < ratios[-1]
