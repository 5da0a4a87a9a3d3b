# Two entry points (see README.md): `make all` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
CORES  ?= all
BIN     = $(VENV)/bin

.PHONY: all test test-fast lint setup report clean

# Create the virtual environment and install the pinned package (editable) once;
# re-run when pyproject.toml changes.
$(BIN)/.installed: pyproject.toml requirements/slurm-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==25.3"
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps -r requirements/slurm-nodeps.txt
	touch $@

setup: $(BIN)/.installed

all: setup
	$(BIN)/snakemake --cores $(CORES)

report: setup
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.zip

test: setup
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

# The gates CI runs before the tests: Python lint, Snakemake formatting, Snakemake's linter.
lint: setup
	$(BIN)/ruff check workflow tests
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint

# The edit loop: unit tests only (no Snakemake runs, no SLURM, no browser).
test-fast: setup
	$(BIN)/python -m pytest -ra -m "not workflow and not slurm" $(PYTEST_ARGS)

clean:
	rm -rf results logs benchmarks resources/embedded .snakemake
