# The linear quantization course.
#   make lab    set up .venv with what the lessons need (first time, or when a pinned file
#               changed) and open JupyterLab; on Linux without an NVIDIA GPU, `make lab TORCH=cpu`
#               takes the CPU build of torch
#   make test   the same set-up plus the maintainers' tools, then every check: ruff and the
#               workflow lint, unit and property tests, nbval over every lesson, nbval again as
#               other machines would run it (make machines), the widget logic, and the lessons
#               in a real browser
# Other targets: make refresh (re-run every notebook in place), make images, make bench,
#                make clean. README.md gives the same commands for a shell without make.

SHELL := /bin/bash
# The first Python 3.11, 3.12 or 3.13 found; `make lab PYTHON=/path/to/python3.12` chooses one.
CANDIDATES := python3 python3.13 python3.12 python3.11 python
SUPPORTED := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
PYTHON ?= $(firstword $(foreach candidate,$(CANDIDATES),$(shell command -v $(candidate) \
	>/dev/null 2>&1 && $(candidate) -c '$(SUPPORTED)' 2>/dev/null && command -v $(candidate))))
VENV := .venv
BIN := $(VENV)/bin
# What .venv holds: the learner set (requirements.txt), then, for the maintainers' targets, the
# tools of requirements-dev.txt on top. A learner's `make lab` never installs those.
LAB_STAMP := $(VENV)/.installed-lab
DEV_STAMP := $(VENV)/.installed-dev
# TORCH=cpu (Linux without an NVIDIA GPU): torch alone, first, from PyTorch's CPU index: the same
# version as requirements.txt pins, built without CUDA, so pip then finds it installed. Unset:
# PyPI's torch, which works on every machine (on Linux it brings the CUDA libraries).
CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_PIN := $(shell grep -m 1 '^torch==' requirements.txt)
$(if $(filter-out cpu,$(TORCH)),$(error TORCH=$(TORCH) is not a choice: TORCH=cpu takes PyTorch's \
CPU build; leave TORCH unset for PyPI's))
# JupyterLab refuses to run as root unless told; a learner's own account never needs this.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

# The commands themselves, in the `python -m` forms that README.md gives for a shell without
# make (tests/test_setup.py keeps the two in step).
PIP := -m pip install --disable-pip-version-check
CPU_TORCH := --no-deps --index-url $(CPU_INDEX)
LAB := -m jupyter lab --ip=127.0.0.1 --ServerApp.root_dir=. \
	--LabApp.default_url=/lab/tree/notebooks/L2_linear_I_quantize_dequantize_tensor.ipynb \
	--LabApp.app_settings_dir=jupyterlab-settings
UNIT := -m pytest -n 2 --dist loadfile --nbval --nbval-current-env \
	--ignore=tests/test_browser.py tests notebooks
BROWSER := -m pytest tests/test_browser.py

.PHONY: setup setup-dev check-python lab test lint unit machines browser refresh images bench clean

# What the lessons need; setup-dev adds the maintainers' tools (on a learner's .venv too).
setup: $(LAB_STAMP)
setup-dev: $(DEV_STAMP)

# The Python that would build .venv is 3.11, 3.12 or 3.13, or a clear message says what to do.
check-python:
	@test -n "$(PYTHON)" || { echo "No Python 3.11, 3.12 or 3.13 found: install one, or run \
	make PYTHON=/path/to/python3.12"; exit 1; }
	@$(PYTHON) -c 'import sys; v = sys.version.split()[0]; sys.exit(None if (3, 11) <= \
	sys.version_info[:2] <= (3, 13) else f"The course needs Python 3.11, 3.12 or 3.13 (found \
	{v}): install one, or run make PYTHON=/path/to/python3.12")'

# A fresh .venv with the learner set whenever it is missing or older than its pinned files.
$(LAB_STAMP): requirements.txt pyproject.toml | check-python
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(if $(filter cpu,$(TORCH)),$(BIN)/python $(PIP) --quiet $(CPU_TORCH) $(TORCH_PIN))
	$(BIN)/python $(PIP) --quiet -r requirements.txt
	$(BIN)/python $(PIP) --quiet --no-deps --no-build-isolation -e .
	touch $@

# The maintainers' tools on top of the learner set (a new learner set removes this stamp too).
$(DEV_STAMP): $(LAB_STAMP) requirements-dev.txt
	$(BIN)/python $(PIP) --quiet -r requirements-dev.txt
	touch $@

# Serves the repository (the lessons' markdown shows ../images/), opens the first lesson, and
# reads the course's JupyterLab settings (no news pop-up) from jupyterlab-settings/.
lab: setup
	$(BIN)/python $(LAB) $(ROOT_FLAG)

test: setup-dev lint unit machines browser

# ruff on the code and the notebooks; the GitHub workflow against its schema and zizmor's audits.
lint: setup-dev
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --config .github/zizmor.yml .github/workflows/

# Unit, property, layout and widget tests, and strict nbval over every lesson, on both cores.
unit: setup-dev
	$(BIN)/python $(UNIT)

# Strict nbval over every lesson again, as a CPU without vector units on one thread and as an
# AVX2 machine on two would run it: a stored output that only holds here fails, naming the machine.
machines: setup-dev
	$(BIN)/python tools/check_machines.py

# Every lesson in JupyterLab and a real Chromium. Without one it says so in its last line
# (and fails under CI=true).
browser: setup-dev
	$(BIN)/python $(BROWSER)

refresh: setup-dev
	$(BIN)/python tools/refresh_notebooks.py

images: setup-dev
	$(BIN)/python tools/make_images.py

bench: setup-dev
	$(BIN)/python benchmarks/bench_quantize.py
	$(BIN)/python benchmarks/bench_notebooks.py
	@for bench in benchmarks/bench_widgets.py benchmarks/bench_l4.py benchmarks/bench_language_model.py \
		benchmarks/bench_torchao.py benchmarks/bench_gptq.py; do \
		test ! -f $$bench || $(BIN)/python $$bench || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .browser-artifacts
