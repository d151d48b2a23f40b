# The two commands users need first: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint browser wheel soak up down status clean bench bench-quick

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: start OpenSearch and Kafka, then the service in the foreground until Ctrl-C; stops all it started
run: $(STAMP)
	$(BIN)/runsearch run

## up / down / status: the same stack in the background
up: $(STAMP)
	$(BIN)/runsearch up

down: $(STAMP)
	$(BIN)/runsearch down

status: $(STAMP)
	$(BIN)/runsearch stack status

## test: lint (ruff) and types (mypy, strict), then unit tests and integration tests against real OpenSearch and
## Kafka, then the tests marked `secure` against the secured stack (HTTPS and users, SASL_SSL) (about 17 minutes)
test: lint browser
	$(BIN)/pytest
	RUNSEARCH_TEST_STACK=secure $(BIN)/pytest -m secure tests/integration

## browser: Debian's chromium for the dashboard's tests (Playwright drives it; no browser is downloaded), installed
## with apt-get when missing and run as root; otherwise those tests are skipped and say why
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } || \
		echo "chromium is not installed: the dashboard's browser tests will be skipped"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## wheel: build the wheel from what the Dockerfile copies, install it into a fresh venv, start every command
wheel:
	$(PYTHON) .ci/wheel-check

## soak: the long suite (repeated crashes, sustained load, memory over a million events) and 2,000
## schemathesis examples per fuzz test (about half an hour)
soak: $(STAMP)
	RUNSEARCH_FUZZ_EXAMPLES=2000 $(BIN)/pytest -s -m "soak or fuzz"

## bench: runsearch against the platform's SQL on PostgreSQL at RUNS runs (default 1,000,000; ~1 h here)
RUNS ?= 1000000
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/runsearch bench run --runs $(RUNS)

## bench-quick: the same at 50,000 runs (a few minutes)
bench-quick:
	$(MAKE) bench RUNS=50000

clean: down
	$(BIN)/runsearch stack wipe
	rm -rf .stack .stack-test .stack-secure-test .stack-cluster-test .stack-bench
