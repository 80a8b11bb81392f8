# Two commands on a fresh machine:
#   make book   execute every chapter on $(PROFILE) with papermill, then build _build/html
#   make test   the tests (every chapter on the smoke profile, a browser test of the built book)
PROFILE ?= cpu
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: book test bench browser clean

book: $(VENV)/.installed
	$(PY) -m lib build --profile $(PROFILE)

test: $(VENV)/.installed browser
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(PY) bench/extract.py
	$(PY) bench/finetune.py
	$(PY) bench/packing.py
	$(PY) bench/quality.py
	$(PY) bench/ablation.py
	$(PY) bench/memory.py

# The virtual environment: the pinned requirements (torch 2.13.0 is the CPU build here), then the
# library itself in editable mode so that `import lib` works in papermill, pytest and notebooks.
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The browser test drives Debian's chromium (never a downloaded browser); installed here when
# missing and this user may use apt-get.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: install Debian's chromium (sudo apt-get install chromium)"; fi; }

clean:
	rm -rf _build
