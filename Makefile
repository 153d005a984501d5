# her2-cds: the commands a newcomer needs. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo serve test test-unit lint dist settings-table golden mcode-examples clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: install            ## evaluate the bundled example patients and print their cards
	$(BIN)/her2-cds demo

serve: install           ## run the service on http://127.0.0.1:8080 (development mode) with the example patients at /fhir
	$(BIN)/her2-cds serve --examples

test: install            ## the whole suite: unit, scenarios, HAPI FHIR integration
	$(BIN)/pytest

test-unit: install       ## everything that needs no HAPI server
	$(BIN)/pytest -m "not hapi"

mcode-examples: install  ## the mCODE STU4 package's 179 examples (npm pack, cached in var/npm/) through the service
	$(BIN)/python -m tests.mcode_package
	$(BIN)/pytest tests/test_mcode_package.py

lint: install            ## ruff and mypy, warnings as errors
	$(BIN)/ruff check service tests bench
	$(BIN)/mypy

dist: install            ## the sdist and the wheel built from it, in dist/ (tests/test_packaging.py installs and runs them)
	$(BIN)/python -m build --outdir dist

settings-table: install  ## regenerate the README's settings table from service/config.py
	$(BIN)/python -m service.settings_reference README.md

golden: install          ## rewrite tests/golden/ (whole responses) ONLY after a reviewed change of the expected output
	$(BIN)/python -m tests.golden_cases 2>/dev/null

clean:
	rm -rf $(VENV) var build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

-include Makefile.hapi
-include Makefile.synthea
-include Makefile.bench
-include Makefile.soak
