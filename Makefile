# Two entry points for a fresh machine (Python 3.11, make, git):
#   make demo   installs from the committed lock (uv.lock) into .venv, runs `hscore demo`
#   make test   the same install, then the test suite (what CI runs: .ci/run)
#   make lock   re-resolves uv.lock to the newest versions pyproject.toml allows (commit it)
#
# uv is itself pinned and bootstrapped with pip into .tools/, so the only thing a fresh machine
# needs is Python 3.11. `uv sync --frozen` installs exactly what uv.lock says and never
# re-resolves, so a fresh clone gets the same versions every day.
PYTHON     ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
VENV       := .venv
BIN        := $(VENV)/bin
UV         := .tools/bin/uv
# Never download a Python: use the machine's 3.11.
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test bench install lock clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(BIN)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet --extra dev --python $(PYTHON)
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/hscore demo

# Two workers (CI has 2 cores); a file's tests stay on one worker so its fixtures are built once.
TEST_JOBS ?= 2
test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile

bench: $(BIN)/.installed
	$(BIN)/python -m bench

lock: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

clean:
	rm -rf $(VENV) .tools *.egg-info .pytest_cache
