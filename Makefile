# Two entry points (see README): `make lab` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8888

.PHONY: lab test setup setup-dev browser pytest nbval e2e bench clean

# torch's wheel from PyPI brings its CUDA libraries: the venv takes about 6.5 GB and pip needs
# room to unpack on top, so say so before pip fails half-way with "No space left on device".
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import shutil, sys; free = shutil.disk_usage(".").free / 2**30; free < 10 and \
	  print(f"WARNING: {free:.1f} GB free on this disk; installing torch and its CUDA libraries needs about 10 GB. " \
	        "If pip fails with No space left on device, free some space and run make again.", file=sys.stderr)'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

## make lab: JupyterLab on notebooks/, offline, on the bundled data
lab: setup
	@# the committed notebooks are ours: trusted, their HTML (the viewer's kernel-free player) runs
	$(VENV)/bin/jupyter trust notebooks/*.ipynb >/dev/null
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --port=$(PORT) $(if $(filter 0,$(shell id -u)),--allow-root)

## make test: every test: pytest (unit + browser e2e) and nbval on the notebooks in smoke mode
test: setup-dev browser
	IANET_SMOKE=1 MPLBACKEND=Agg $(PY) -m pytest -q tests
	IANET_SMOKE=1 $(PY) -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider notebooks

pytest: setup-dev
	IANET_SMOKE=1 MPLBACKEND=Agg $(PY) -m pytest -q tests -m "not e2e"

nbval: setup-dev
	IANET_SMOKE=1 $(PY) -m pytest -q --nbval-lax --nbval-current-env notebooks

e2e: setup-dev browser
	IANET_SMOKE=1 $(PY) -m pytest -q -m e2e tests

## Debian's Chromium for the browser test (Playwright's own download does not work offline);
## best effort: the e2e test skips loudly if it is still missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "WARNING: could not install Debian's chromium; the browser e2e test will be skipped"; }

bench: setup-dev
	$(PY) -m benchmarks.cost
	$(PY) -m benchmarks.multicontext
	$(PY) -m benchmarks.cpu_latency

clean:
	rm -rf $(VENV) runs data/synthetic* .pytest_cache
