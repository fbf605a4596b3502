# The linear quantization course.
#   make lab    set up .venv (first time, or when a pinned file changed) and open JupyterLab
#   make test   the same set-up, then every check: ruff, unit and property tests, nbval over
#               every lesson, the widget logic, and the lessons in a real browser
# Other targets: make refresh (re-run every notebook in place), make images, make bench,
#                make clean.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# JupyterLab refuses to run as root unless told; a learner's own account never needs this.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
# torchao is for `make bench` only (the comparison); it never enters the course's .venv.
TORCHAO := torchao==0.18.0
BENCH_DEPS := .bench-deps

.PHONY: setup lab test lint unit browser refresh images bench clean

setup: $(STAMP)

# A fresh .venv whenever it is missing or older than the pinned files.
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "The course needs Python 3.11 (found " + sys.version.split()[0] + "): install it, or run make PYTHON=/path/to/python3.11")'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Serves the repository (the lessons' markdown shows ../images/) and opens on notebooks/.
lab: setup
	$(BIN)/jupyter lab --ip=127.0.0.1 --ServerApp.root_dir=. \
		--ServerApp.default_url=/lab/tree/notebooks $(ROOT_FLAG)

test: setup lint unit browser

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Unit, property and widget tests, and strict nbval over every lesson, on both cores.
unit: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile --nbval --nbval-current-env \
		--ignore=tests/test_browser.py tests notebooks

browser: setup
	$(BIN)/python -m pytest tests/test_browser.py

refresh: setup
	$(BIN)/python tools/refresh_notebooks.py

images: setup
	$(BIN)/python tools/make_images.py

bench: setup
	@test -d $(BENCH_DEPS) || $(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--no-deps --target $(BENCH_DEPS) $(TORCHAO)
	PYTHONPATH=$(BENCH_DEPS) $(BIN)/python benchmarks/bench_quantize.py
	$(BIN)/python benchmarks/bench_notebooks.py
	@for bench in benchmarks/bench_widgets.py benchmarks/bench_l4.py; do \
		test ! -f $$bench || $(BIN)/python $$bench || exit 1; done

clean:
	rm -rf $(VENV) $(BENCH_DEPS) .pytest_cache .ruff_cache .hypothesis .browser-artifacts
