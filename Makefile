# Two commands do all set-up on a fresh machine:
#   make demo   - creates .venv, installs everything, runs the end-to-end demo
#   make test   - installs everything and runs every test suite
# `make` alone is the editable dev install (Rust runtime included when cargo exists).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# One Cargo target dir for the editable build, `make runtime`, cargo test and the
# wheel test, so the runtime compiles once per profile.
export CARGO_TARGET_DIR ?= $(CURDIR)/runtime/target
# Without cargo, everything installs as pure Python (the explicit switch of
# buildsys/remotemedia_build.py; see docs/install.md).
ifeq ($(shell command -v cargo 2>/dev/null),)
export REMOTEMEDIA_PURE_PYTHON ?= 1
endif

.DEFAULT_GOAL := dev
.PHONY: dev install runtime extension protos wheel sdist system-deps demo test \
	test-rust test-python lint stubtest docs binder-check bench lab clean

dev: runtime extension

# Editable install: maturin builds the runtime into remotemedia/ (from pyproject.toml's
# [tool.maturin]); Python sources are used in place.
$(STAMP): pyproject.toml runtime/Cargo.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@if [ -n "$$REMOTEMEDIA_PURE_PYTHON" ]; then \
		echo "cargo not found: installing pure Python (no Rust runtime)"; fi
	$(BIN)/pip install -q --upgrade pip wheel
	$(BIN)/pip install -q -e ".[all]"
	touch $(STAMP)

install: $(STAMP)

# Rebuilds the runtime after Rust changes (incremental; quick when nothing changed).
runtime: install
	@if command -v cargo >/dev/null; then bash runtime/build.sh --release; \
	else echo "cargo not found: skipping the Rust runtime (pure-Python engine)"; fi

# The front end (rm.widgets.Microphone, the serve --webrtc page): extension/ bundles
# into remotemedia/static/ (git-ignored, shipped in the wheel) with esbuild. Skipped
# with a message when npm is absent; npm ci runs again only when the lock changes.
extension/node_modules/.installed: extension/package-lock.json
	cd extension && npm ci --no-audit --no-fund
	touch $@

extension:
	@if command -v npm >/dev/null; then \
		$(MAKE) --no-print-directory extension/node_modules/.installed && cd extension && npm run build; \
	else echo "npm not found: the front end (extension/) is not built"; fi

# The committed gRPC stubs (remotemedia/remote/_proto) from protos/.
protos: install
	$(BIN)/python -m remotemedia.remote.gen_protos

# Distributions in dist/: the wheel (runtime, stubs, front end, data) and the sdist.
wheel: install extension
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pip wheel --no-deps --no-build-isolation -w dist .

sdist: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m build --sdist --no-isolation --outdir dist

# Browser tests drive Debian's Chromium (never a downloaded browser).
system-deps:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else echo "chromium missing: install Debian's chromium for the browser tests"; fi; }
	@command -v espeak-ng >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; \
		else echo "espeak-ng missing: OfflineTTS('espeak') and its test need it"; fi; }

demo: runtime
	$(BIN)/python -m remotemedia.demo

test-rust: runtime
	@if [ -f runtime/Cargo.toml ] && command -v cargo >/dev/null; then \
		cd runtime && cargo test --quiet && cargo clippy --quiet --all-targets -- -D warnings; \
	fi

# tests/packaging builds the wheel (reusing CARGO_TARGET_DIR) and the docs site.
test-python: install runtime extension system-deps
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-sanitize-with notebooks/sanitize.cfg -p no:cacheprovider -rs

test: test-rust lint test-python

lint: install runtime
	$(BIN)/ruff check .
	$(BIN)/black --check --quiet .
	$(BIN)/mypy remotemedia remotemedia_server buildsys
	$(BIN)/python -m remotemedia.remote.gen_protos --check
	@$(MAKE) --no-print-directory stubtest
	@if [ -d extension/node_modules ]; then cd extension && npm run lint && npm run typecheck; fi
	@if command -v cargo >/dev/null; then cd runtime && cargo fmt --check; fi

# remotemedia/_runtime.pyi against the compiled module.
stubtest: runtime
	@if $(BIN)/python -c "import remotemedia._runtime" 2>/dev/null; then \
		$(BIN)/python -m mypy.stubtest remotemedia._runtime; \
	else echo "stubtest skipped: the Rust runtime is not built"; fi

# The documentation site (site/), warnings as errors.
docs: install
	$(BIN)/mkdocs build --strict --site-dir site

# What a Binder build does (binder/), in a fresh venv, then the tutorials under nbval.
binder-check:
	bash binder/check.sh

bench: runtime
	$(BIN)/python benchmarks/pipeline_throughput.py
	@for b in remote_latency runtime_speedup notebook_roundtrip webrtc_latency ml_rtf; do \
		if [ -f benchmarks/$$b.py ]; then $(BIN)/python benchmarks/$$b.py; fi; done

lab: install
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 notebooks/

clean:
	rm -rf $(VENV) demo-out test-artifacts runtime/target remotemedia/_runtime*.so dist site remotemedia/static extension/node_modules
