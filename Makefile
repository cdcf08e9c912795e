# Quick start: `make demo` runs the unit on bundled sample input; `make test` runs the test suite.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: bootstrap demo test bench clean deb debs arm64-check

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

# Debian package for one architecture (amd64 or arm64), built here for either: make deb ARCH=arm64
ARCH ?= amd64
deb: bootstrap
	PYTHON=$(BIN)/python scripts/build-deb.sh $(ARCH) dist

debs: bootstrap
	PYTHON=$(BIN)/python scripts/build-deb.sh amd64 dist
	PYTHON=$(BIN)/python scripts/build-deb.sh arm64 dist

# The arm64 package installed into a Debian bookworm arm64 root under qemu-user-static; reads compared with x86.
arm64-check: bootstrap
	PYTHON=$(BIN)/python scripts/arm64-check.sh
