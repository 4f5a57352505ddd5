# sitegate -- two commands on a fresh machine:
#   make demo   set up .venv and run the whole spine on embedded defaults
#   make test   set up .venv (and Mosquitto when missing), check the import contracts, run the suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Debian puts mosquitto in /usr/sbin, which a non-root PATH may lack.
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: setup system-deps demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "sitegate needs Python >= 3.11"' \
	  || { echo "error: Python >= 3.11 is required (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# face-recognition without compiling dlib: the prebuilt dlib-bin wheel, the models,
	@# then face-recognition itself without its dependency on the dlib source package.
	$(PY) -m pip install --quiet dlib-bin face-recognition-models Pillow
	$(PY) -m pip install --quiet --no-deps face-recognition
	touch $(STAMP)

setup: $(STAMP)

# System packages the tests talk to for real: Mosquitto, the OpenSSL CLI, jq (the audit
# recipe), Debian's Chromium (phone page tests through Playwright; never `playwright install`)
# and a CJK font so the page screenshots are readable.
system-deps:
	@missing=""; \
	command -v mosquitto >/dev/null || missing="$$missing mosquitto"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi wqy || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "error: the tests need$$missing; install with: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi; \
	command -v mosquitto >/dev/null || { echo "error: mosquitto is still missing"; exit 1; }; \
	command -v chromium >/dev/null || { echo "error: chromium is still missing (phone page tests)"; exit 1; }

demo: setup
	$(VENV)/bin/sitegate demo

# Import arrows (pyproject.toml [tool.importlinter]): a wrong arrow fails CI before any test runs.
lint: setup
	$(VENV)/bin/lint-imports --no-cache

test: setup system-deps lint
	$(PY) -m pytest

bench: setup system-deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
