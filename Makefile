# Two commands do all set-up on a fresh machine:
#   make demo   - creates .venv, installs everything, runs the end-to-end demo
#   make test   - installs everything and runs every test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install extension runtime system-deps demo test test-rust test-python lint bench lab clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel
	$(BIN)/pip install -q -e ".[all]"
	touch $(STAMP)

install: $(STAMP) extension
	$(BIN)/python -c "import sys; from remotemedia.remote.gen_protos import main; sys.exit(main([]))"

# The browser front end (rm.widgets.Microphone, the serve --webrtc page) is bundled
# into remotemedia/static/ by esbuild when npm is present.
extension/node_modules/.installed: extension/package-lock.json
	cd extension && npm ci --no-audit --no-fund
	touch $@

extension:
	@if command -v npm >/dev/null; then \
		$(MAKE) --no-print-directory extension/node_modules/.installed && cd extension && npm run build; \
	else echo "npm not found: skipping the browser front end (remotemedia/static/)"; fi

# The Rust runtime is optional for the SDK; it is built when cargo is present.
runtime: install
	@if [ -f runtime/build.sh ] && command -v cargo >/dev/null; then \
		bash runtime/build.sh --release; \
	else echo "cargo not found: skipping the Rust runtime (pure-Python engine)"; fi

# Browser tests drive Debian's Chromium (never a downloaded browser).
system-deps:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else echo "chromium missing: install Debian's chromium for the browser tests"; fi; }
	@command -v espeak-ng >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get install -y -qq espeak-ng >/dev/null; \
		else echo "espeak-ng missing: OfflineTTS('espeak') and its test need it"; fi; }

demo: runtime
	$(BIN)/python -m remotemedia.demo

test-rust: runtime
	@if [ -f runtime/Cargo.toml ] && command -v cargo >/dev/null; then \
		cd runtime && cargo test --quiet && cargo clippy --quiet --all-targets -- -D warnings; \
	fi

test-python: install runtime system-deps
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-sanitize-with notebooks/sanitize.cfg -p no:cacheprovider

test: test-rust lint test-python

lint: install
	$(BIN)/ruff check .
	$(BIN)/black --check --quiet .
	$(BIN)/mypy remotemedia server/remotemedia_server
	@if [ -d extension/node_modules ]; then cd extension && npm run lint && npm run typecheck; fi
	@if command -v cargo >/dev/null; then cd runtime && cargo fmt --check; fi

bench: runtime
	$(BIN)/python benchmarks/pipeline_throughput.py
	@for b in remote_latency runtime_speedup notebook_roundtrip webrtc_latency; do \
		if [ -f benchmarks/$$b.py ]; then $(BIN)/python benchmarks/$$b.py; fi; done

lab: install
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 notebooks/

clean:
	rm -rf $(VENV) demo-out test-artifacts runtime/target remotemedia/_runtime*.so remotemedia/static extension/node_modules
