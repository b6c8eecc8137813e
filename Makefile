# Two commands a user needs: `make demo` (the whole pipeline on the demo world) and `make test`.
# Both first create or update the virtual environment (.venv); it is reused while
# requirements.txt, pyproject.toml and tools/setup_env.sh are unchanged.

VENV ?= .venv
CORES ?= all
STAMP := $(VENV)/.setup-complete
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: setup demo test lint dry-run clean-results

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml tools/setup_env.sh
	tools/setup_env.sh $(VENV)
	touch $@

demo: $(STAMP)
	snakemake --cores $(CORES)

dry-run: $(STAMP)
	snakemake -n

test: $(STAMP)
	python -m pytest

# Style and workflow checks: ruff (lint + import order), snakefmt, Snakemake's own linter.
lint: $(STAMP)
	ruff check .
	ruff format --check .
	snakefmt --check Snakefile rules/
	snakemake --lint --cores 1 -n

clean-results:
	rm -rf results/demo data/demo_world
