# Two entry points for a fresh machine (see README.md):
#   make demo   set up .venv, run the pipeline on the embedded demo (synthetic CaptainCook4D
#               features) and then on the REAL Breakfast sample, each with its report
#   make test   set up .venv and run the test suite (what .ci/run calls, after make lint)
#   make lint   ruff + mypy on the package, snakefmt --check and snakemake --lint on the workflow
#
# TORCH selects the torch build: the default is the CPU build (a plain `torch` requirement
# pulls a multi-GB CUDA build). On a GPU machine: make demo TORCH=torch

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
CORES ?= 2
BIN := $(VENV)/bin
# The real Breakfast sample: its config replaces config/config.yaml (not merged into it).
BREAKFAST := --configfile config/breakfast_sample.yaml --replace-workflow-config

.PHONY: demo test setup lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

demo: setup
	$(BIN)/python -m steploc demo-features --configfile config/config.yaml
	$(BIN)/python -m steploc demo-checkpoint --out data/demo_checkpoints/hiero_egovlp_RANDOM_WEIGHTS.pth
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1
	$(BIN)/snakemake --report report.html
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1 $(BREAKFAST)
	$(BIN)/snakemake --report report_breakfast_sample.html $(BREAKFAST)

# The SLURM integration tests start a throwaway local cluster: .ci/install_slurm.sh installs
# the Debian packages when run as root (a no-op when present; otherwise those tests skip).
test: setup
	bash .ci/install_slurm.sh
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/snakefmt --check Snakefile workflow/rules
	# On the embedded real sample: a clean clone has no demo features or checkpoint yet.
	$(BIN)/snakemake --lint $(BREAKFAST)
