# airmap — two commands on a fresh Debian 12 (QGIS 3.22) or 13 (QGIS 3.40) machine: `make demo`
# and `make test`. Each installs what is missing (Debian QGIS packages, the .venv, the pinned
# requirements) first. `make test-lts` runs the suite again in a Debian 13 root (QGIS 3.40 LTR).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.airmap-installed
APT_PACKAGES := python3-qgis qgis qgis-providers python3-venv xvfb
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -E)
# The repository is the plugin package: expose it as `airmap` whatever the clone is called.
RUN := PYTHONPATH=$(CURDIR)/.pkg QT_QPA_PLATFORM=offscreen PYTHONUNBUFFERED=1 $(PY)
PIP_INSTALL := $(PY) -m pip install -q --disable-pip-version-check
# torch (training and fine-tuning only): TORCH=1 installs it; the default (auto) installs it only
# where pip finds a wheel of the pinned version on this machine (its find-links: a CPU build),
# never a multi-GB download; TORCH=0 never.
TORCH ?= auto
TORCH_AT_HAND := $(PY) -m pip install -q --dry-run --no-index --no-deps -r requirements-torch.txt >/dev/null 2>&1
# The Debian 13 root of `make test-lts`, built on first use and then reused.
LTS_ROOT ?= /var/cache/airmap/lts-root

.PHONY: setup system-packages torch demo test test-lts bench clean-venv package train-reference

setup: $(STAMP) .pkg/airmap
	@if [ "$(TORCH)" = 1 ] && ! $(PY) -c "import torch" 2>/dev/null; then $(MAKE) --no-print-directory torch; fi

.pkg/airmap:
	mkdir -p .pkg && ln -sfn $(CURDIR) .pkg/airmap

system-packages:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "Installing Debian packages: $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

$(STAMP): requirements.txt requirements-torch.txt
	@$(MAKE) --no-print-directory system-packages
	@[ -x $(PY) ] || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PIP_INSTALL) -r requirements.txt 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
	@if [ "$(TORCH)" = 1 ] || { [ "$(TORCH)" = auto ] && $(TORCH_AT_HAND); }; then $(MAKE) --no-print-directory torch; \
	  else echo "torch not installed (TORCH=$(TORCH)): its tests will be skipped; make torch adds it"; fi
	$(PY) -c "import numpy, rasterio, scipy, skimage, onnxruntime, pykrige, qgis.core, pytest_qgis"
	touch $(STAMP)

torch:
	$(PIP_INSTALL) -r requirements-torch.txt
	$(PY) -c "import torch"

demo: setup
	$(RUN) -m airmap.demo

test: setup
	$(RUN) -m pytest

test-lts:
	$(SUDO) LTS_ROOT=$(LTS_ROOT) .ci/test-lts $(APT_PACKAGES) make

bench: setup
	$(RUN) -m airmap.bench.run

# The zip a user installs (Plugins > Manage and Install Plugins > Install from ZIP): the plugin's
# tracked files and .onnx models; no tests, bench, docs, CI, torch checkpoints or dev files.
PACKAGE_EXCLUDE := ^(tests|bench|docs|\.ci)/|\.pt$$|^(Makefile|pytest\.ini|\.gitignore|demo\.py)$$
package:
	@mkdir -p dist && rm -f dist/airmap.zip
	set -o pipefail; git ls-files | grep -Ev '$(PACKAGE_EXCLUDE)' | python3 -c "import sys, zipfile; \
	  z = zipfile.ZipFile('dist/airmap.zip', 'w', zipfile.ZIP_DEFLATED); \
	  [z.write(p, 'airmap/' + p) for p in sys.stdin.read().split()]; z.close()"
	@echo "dist/airmap.zip: QGIS > Plugins > Manage and Install Plugins > Install from ZIP"

# Reference-size training on a GPU (models/README.md); no install step: the GPU machine's own python3 runs it.
train-reference: .pkg/airmap
	PYTHONPATH=$(CURDIR)/.pkg PYTHONUNBUFFERED=1 $$([ -x $(PY) ] && echo $(PY) || echo python3) -m airmap.models.reference $(ARGS)

clean-venv:
	rm -rf $(VENV) .pkg
