# Two commands on a fresh machine (see README):
#   make train   set up, train a small GPT on Tiny Shakespeare on the CPU, print a sample
#   make test    set up, lint, run every test and notebook
# Also: make lab (open the course in JupyterLab), make bench, make notebooks (re-run and save them,
# with their measured run times), make site (the course as a static website in site/, docs/site.md).

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# The CPU wheel where no GPU is wanted: an unpinned torch pulls a CUDA build of several GB.
# On Linux with network, add TORCH_INDEX=https://download.pytorch.org/whl/cpu for a CPU-only wheel.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
PRESET ?= cpu

export OMP_NUM_THREADS ?= 2
ifneq ($(wildcard ../shared/data/tinyshakespeare.txt),)
export ATTENTION_PLAYGROUND_DATA ?= $(abspath ../shared/data)
export TIKTOKEN_CACHE_DIR ?= $(abspath ../shared/data/tiktoken_cache)
endif

.PHONY: setup train lab test lint unit notebooks bench site clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# A second `make train` keeps the first run's checkpoint and writes beside it.
RUN_DIR ?= $(if $(wildcard runs/$(PRESET)-char/ckpt.pt),runs/$(PRESET)-char-$(shell date +%Y%m%d-%H%M%S),runs/$(PRESET)-char)

train: setup
	$(VENV)/bin/attention-playground train --preset $(PRESET) --out $(RUN_DIR)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Each notebook runs once, under nbval; tests/test_notebook_hygiene.py checks statically what nbval
# lets pass (an unknown %magic, a shell escape). `scripts/run_notebooks.sh --check` runs them again.
test: setup lint
	$(PY) -m pytest

unit: setup
	$(PY) -m pytest tests

notebooks: setup
	PYTHON=$(PY) scripts/run_notebooks.sh

bench: setup
	$(VENV)/bin/attention-playground bench

# The saved notebooks as they are (none is run), the README, docs/ and images/: open site/index.html.
site: setup
	$(PY) scripts/build_site.py --out site

clean:
	rm -rf $(VENV) runs site .pytest_cache
