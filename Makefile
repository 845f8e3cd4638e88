# levpaper: two commands do everything on a fresh machine with Python 3.11, git and make.
#   make book   build the HTML book into _build/html
#   make pdf    build the PDF edition into _build/latex/levpaper.pdf (installs TeX Live if missing)
#   make test   lint, type-check, unit + property tests, nbval, book build with -W, PDF build,
#               browser and PDF checks
# Both create .venv from requirements/lock.txt on first use and skip the install afterwards.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.8
# Extras resolved into the lock (tools/sync_environment.py lists the same); `rl` is not locked.
LOCKED_EXTRAS := book test experiments calibration multiagent
export PATH := $(BIN):$(PATH)
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# Sphinx and Jupyter write caches here; keep them out of $HOME so runs are self-contained.
export JUPYTER_PLATFORM_DIRS := 1
# Pinned floating-point arithmetic (levpaper.experiments.ARITHMETIC; the README's
# "Bit-exact artifacts"): numpy's run-time SIMD dispatch and OpenBLAS's kernel choice depend on
# the CPU (AVX-512 paths round differently in the last bit), so every target computes with
# numpy's x86-64-v2 baseline loops and OpenBLAS's Haswell kernels, which any x86-64 CPU with
# AVX2 runs. The committed artifacts and the notebooks' stored outputs were made this way.
export NPY_DISABLE_CPU_FEATURES := X86_V3 X86_V4 AVX512_ICL AVX512_SPR
ifeq ($(shell uname -m),x86_64)
export OPENBLAS_CORETYPE := Haswell
endif

.PHONY: book pdf test reproduce lock env clean lint typecheck unit browser-deps tex-deps bench experiments help
.DEFAULT_GOAL := help

help:
	@echo "make book       build the book (_build/html/index.html)"
	@echo "make pdf        build the PDF edition (_build/latex/levpaper.pdf; installs Debian's TeX Live)"
	@echo "make test       run every check (what CI runs)"
	@echo "make reproduce  re-execute every notebook in place, then rebuild the book"
	@echo "make bench      run the benchmarks"
	@echo "make experiments  regenerate every missing or stale artifact in artifacts/"
	@echo "make lock       regenerate requirements/lock.txt and environment.yml from pyproject.toml"

env: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PY)"; $(PY) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements/lock.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --all --builder html -W -n --keep-going

# The PDF edition: Sphinx's LaTeX builder, xelatex and latexmk from Debian's TeX Live (installed
# by tools/install_tex.sh), with the same -W -n as the HTML build. Runs offline.
PDF := _build/latex/levpaper.pdf

pdf: $(STAMP) tex-deps
	rm -f $(PDF)
	LATEXOPTS="-interaction=nonstopmode -halt-on-error" \
		$(BIN)/jupyter-book build . --all --builder pdflatex -W -n --keep-going
	@test -s $(PDF) && echo "PDF edition: $(PDF)"

tex-deps:
	@bash tools/install_tex.sh

reproduce: $(STAMP)
	$(BIN)/levpaper reproduce
	$(MAKE) book

lint: $(STAMP)
	$(BIN)/ruff check levpaper tests benchmarks tools book
	$(BIN)/ruff format --check levpaper tests benchmarks tools

typecheck: $(STAMP)
	$(BIN)/mypy

browser-deps:
	@bash tools/install_browser.sh

# Order: cheap static checks first, then the book build (-W, zero warnings), the PDF build (when
# TeX Live is or can be installed; otherwise the PDF test says why it skipped, and fails under
# CI=true), then one pytest run that holds the unit/property tests, nbval on every notebook and
# the browser and PDF checks of the builds.
test: $(STAMP) browser-deps
	$(MAKE) lint
	$(MAKE) typecheck
	$(MAKE) book
	@if bash tools/install_tex.sh; then $(MAKE) pdf; else rm -f $(PDF); \
		echo "make test: no TeX Live, so no PDF; tests/test_pdf.py will skip (fail under CI=true)"; fi
	$(BIN)/python -m pytest --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg \
		--nbval-current-env -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/levpaper bench

# The book's heavy runs (levpaper.experiments): compute missing or stale artifacts on a local
# Dask cluster, one progress bar per experiment; a current artifact is not recomputed.
experiments: $(STAMP)
	$(BIN)/levpaper experiments run --all

lock:
	@test -x $(BIN)/uv || { $(PY) -m venv $(VENV) && $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"; }
	$(BIN)/uv pip compile pyproject.toml $(foreach e,$(LOCKED_EXTRAS),--extra $(e)) --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --no-header --annotation-style line -o requirements/lock.txt
	$(BIN)/python tools/sync_environment.py

clean:
	rm -rf _build .pytest_cache .mypy_cache .ruff_cache .hypothesis
