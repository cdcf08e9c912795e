# Quick start: `make demo` runs the unit on bundled sample input; `make test` runs the test suite.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: bootstrap demo test bench clean

bootstrap: $(VENV)/.bootstrapped

$(VENV)/.bootstrapped: pyproject.toml scripts/bootstrap.sh
	VENV=$(VENV) scripts/bootstrap.sh
	touch $@

demo: bootstrap
	$(BIN)/alpr-unit demo --data-dir demo-data

test: bootstrap
	$(BIN)/python -m pytest -q

bench: bootstrap
	$(BIN)/alpr-unit bench pipeline --json

clean:
	rm -rf demo-data .pytest_cache
