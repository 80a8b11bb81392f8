# Two commands on a fresh machine:
#   make book   install the book's environment (requirements.txt), execute every chapter on
#               $(PROFILE) with papermill, then build _build/html
#   make test   install the development environment (requirements-dev.txt), then the tests (every
#               chapter on the smoke profile, a browser test of the built book)
PROFILE ?= cpu
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# torch's version, from requirements.txt; on Linux without CUDA its CPU build comes from this index.
TORCH := $(shell sed -n 's/^torch==\([^ ]*\).*/\1/p' requirements.txt)
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: book test bench browser torch clean

book: $(VENV)/.book
	$(PY) -m lib build --profile $(PROFILE)

test: $(VENV)/.dev browser
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev
	$(PY) bench/extract.py
	$(PY) bench/finetune.py
	$(PY) bench/packing.py
	$(PY) bench/quality.py
	$(PY) bench/ablation.py
	$(PY) bench/memory.py

# The book's environment: torch (see `torch`), the pinned requirements, then the library itself in
# editable mode so that `import lib` works in papermill, pytest and notebooks.
$(VENV)/.book: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@$(MAKE) --no-print-directory torch
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The development environment: the book's, plus pytest, playwright, accelerate and actionlint.
$(VENV)/.dev: requirements-dev.txt $(VENV)/.book
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# torch $(TORCH) before the rest, so that requirements.txt finds it installed. On Linux without CUDA
# (no nvidia-smi) PyPI's wheel is the CUDA build (several GB): take the CPU build from PyTorch's
# index when it answers, else (offline, or a local wheel house) whatever pip's own configuration
# resolves. With CUDA, or on macOS, PyPI's wheel is the right one.
torch:
	@if $(PY) -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$(TORCH)')" 2>/dev/null; then \
	  echo "torch: $$($(PY) -c 'import torch; print(torch.__version__)') is installed"; \
	elif command -v nvidia-smi >/dev/null 2>&1 || [ "$$(uname -s)" != Linux ]; then \
	  echo "torch: $(TORCH) from the default index (CUDA build with nvidia-smi, else macOS's)"; \
	  $(PY) -m pip install --quiet "torch==$(TORCH)"; \
	elif $(PY) -c "import urllib.request as u; u.urlopen('$(TORCH_CPU_INDEX)/torch/', timeout=15)" 2>/dev/null; then \
	  echo "torch: $(TORCH), the CPU build, from $(TORCH_CPU_INDEX)"; \
	  $(PY) -m pip install --quiet "torch==$(TORCH)" --index-url "$(TORCH_CPU_INDEX)"; \
	else \
	  echo "torch: $(TORCH_CPU_INDEX) does not answer: $(TORCH) as pip is configured here"; \
	  $(PY) -m pip install --quiet "torch==$(TORCH)"; \
	fi

# The browser test drives Debian's chromium (never a downloaded browser). Nothing is installed here:
# when it is missing, say so and how to install it, and stop.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "make test: chromium is missing. The browser test (tests/book/test_browser.py) drives Debian's"; \
	  echo "chromium. Install it, then run make test again:  sudo apt-get install chromium"; \
	  exit 1; }

clean:
	rm -rf _build
