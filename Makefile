# airmap — two commands on a fresh Debian bookworm machine: `make demo` and `make test`.
# Each installs what is missing (Debian QGIS packages, the .venv, pinned requirements) first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.airmap-installed
APT_PACKAGES := python3-qgis qgis qgis-providers xvfb
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The repository is the plugin package: expose it as `airmap` whatever the clone is called.
RUN := PYTHONPATH=$(CURDIR)/.pkg QT_QPA_PLATFORM=offscreen PYTHONUNBUFFERED=1 $(PY)

.PHONY: setup demo test bench clean-venv train-reference

setup: $(STAMP) .pkg/airmap

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
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-torch.txt 2>&1 \
	  | grep -v "is ignored: it is neither a file nor a directory" || true
	$(PY) -c "import numpy, rasterio, scipy, skimage, onnxruntime, pykrige, torch, qgis.core, pytest_qgis"
	touch $(STAMP)

demo: setup
	$(RUN) -m airmap.demo

test: setup
	$(RUN) -m pytest

bench: setup
	$(RUN) -m airmap.bench.run

# Reference-size training on a GPU (models/README.md); no install step: the GPU machine's own python3 runs it.
train-reference: .pkg/airmap
	PYTHONPATH=$(CURDIR)/.pkg PYTHONUNBUFFERED=1 $$([ -x $(PY) ] && echo $(PY) || echo python3) -m airmap.models.reference $(ARGS)

clean-venv:
	rm -rf $(VENV) .pkg
