# sitegate -- two commands on a fresh machine:
#   make demo   set up .venv and show the whole product on embedded defaults (ends by itself)
#   make test   set up .venv (and Mosquitto when missing), check the import contracts, run the suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# every extra (pyproject.toml: extras by role); a gateway in the field installs the core only
EXTRAS := central,faces,maps,demo,test
# the demo turns faces on when these labelled photos are there (the tests' photos)
FACES ?= $(or $(SITEGATE_TEST_FACES),../shared/data/faces)
# Debian puts mosquitto in /usr/sbin, which a non-root PATH may lack.
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: setup system-libs system-deps demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "sitegate needs Python >= 3.11"' \
	  || { echo "error: Python >= 3.11 is required (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 'setuptools>=77,<81'
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@# [faces] brings the prebuilt dlib-bin wheel and the models; the face_recognition wrapper
	@# declares the dlib *source* package, so it alone is added without dependencies.
	$(PY) -m pip install --quiet --no-deps face-recognition
	touch $(STAMP)

setup: $(STAMP)

# Shared libraries the product loads at run time: libusb-1.0 (pyusb: the USB ID-card reader) and
# OpenSSL 3's libcrypto (SM2 through uplink/sm2_openssl.py). Installed like the others below.
system-libs:
	@missing=""; \
	ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || missing="$$missing libusb-1.0-0"; \
	ldconfig -p 2>/dev/null | grep -q 'libcrypto.so.3' || missing="$$missing libssl3"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "error: sitegate needs$$missing; install with: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# System packages the tests talk to for real: Mosquitto, the OpenSSL CLI, jq (the audit
# recipe), Debian's Chromium (phone page tests through Playwright; never `playwright install`)
# and a CJK font so the page screenshots are readable.
system-deps: system-libs
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

# The whole product on embedded defaults: lanes on the simulators, phone clock-ins, central's
# month, the 考勤表 and a one-time sign-in link to the web app (README, "Quick start").
demo: setup system-libs
	$(VENV)/bin/sitegate demo $(if $(wildcard $(FACES)/manifest.csv),--faces $(FACES)) $(DEMO_ARGS)

# Import arrows (pyproject.toml [tool.importlinter]): a wrong arrow fails CI before any test runs.
lint: setup
	$(VENV)/bin/lint-imports --no-cache

test: setup system-deps lint
	$(PY) -m pytest

bench: setup system-deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
