# massact: two-command setup.  `make demo` and `make test` are all a fresh machine needs.
#
# torch is installed first with an exact pin (torch==2.13.0): on this machine that resolves to
# a CPU build; a looser spec would let pip pull a multi-GB CUDA build.

SHELL      := /bin/bash
PYTHON     ?= python3
VENV       := .venv
VENV_PY    := $(VENV)/bin/python
PIP        := $(VENV_PY) -m pip
STAMP      := $(VENV)/.massact-setup
TORCH_PIN  := torch==2.13.0
CHROMIUM   := /usr/bin/chromium
NOTEBOOKS  := $(wildcard notebooks/*.ipynb)
BENCHES    := $(wildcard bench/*.py)

# Quiet progress bars in CI logs (exported to pytest and to the notebook kernels it starts).
ifdef CI
export TQDM_DISABLE := 1
endif

.PHONY: setup demo test browser-deps bench clean distclean

setup: $(STAMP)

$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

# Re-runs only when pyproject.toml changes (or the stamp is deleted).
$(STAMP): pyproject.toml | $(VENV_PY)
	$(PIP) install --upgrade pip
	$(PIP) install "$(TORCH_PIN)"
	$(PIP) install -e ".[notebooks,test]"
	@touch $@

demo: setup
	$(VENV)/bin/massact reproduce --out report
	@echo
	@echo "Report:  $(CURDIR)/report/index.html"
	@echo "Results: $(CURDIR)/report/results.json"

test: setup browser-deps
	$(VENV_PY) -m pytest -q -m "not browser" tests
# nbval compares the outputs stored in the tagged cells (scripts/nbtools.py execute);
# progress bars are off so that none lands in a compared output. The pytest run above also
# executes every notebook on a real diffusers pipeline (tests/test_notebooks_tiny.py:
# MASSACT_MODEL=tiny-flux, no cell may raise; outputs not compared).
ifneq ($(NOTEBOOKS),)
	@set -e; for nb in $(NOTEBOOKS); do \
		start=$$(date +%s); \
		TQDM_DISABLE=1 $(VENV_PY) -m pytest -q --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
			--nbval-sanitize-with tests/nbval_sanitize.cfg $$nb; \
		echo "nbval $$nb: $$(( $$(date +%s) - start )) s"; \
	done
else
	@echo "no notebooks/*.ipynb: skipping nbval"
endif
	@if [ -d tests/browser ]; then \
		echo "$(VENV_PY) -m pytest -q -s -m browser tests/browser"; \
		$(VENV_PY) -m pytest -q -s -m browser tests/browser; \
	else \
		echo "no tests/browser: skipping browser tests"; \
	fi

# Debian's chromium; playwright drives it via executable_path=/usr/bin/chromium
# (never `playwright install`).
browser-deps:
	@if [ -x $(CHROMIUM) ]; then \
		echo "chromium present: $(CHROMIUM)"; \
	else \
		if [ "$$(id -u)" = 0 ]; then SUDO=; \
		elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
		else echo "need root or sudo to apt-get install chromium" >&2; exit 1; fi; \
		set -x; \
		$$SUDO apt-get update; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi

bench: setup
	@set -e; for f in $(BENCHES); do echo "== $$f"; $(VENV_PY) $$f; done

clean:
	rm -rf report build dist *.egg-info .pytest_cache .ipynb_checkpoints
	find . -path ./$(VENV) -prune -o -path ./runs -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# Also drops the virtualenv (next `make setup` rebuilds it).
distclean: clean
	rm -rf $(VENV)
