# The two commands users need first: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test up down status clean

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

## test: unit tests and integration tests against real OpenSearch and Kafka
test: $(STAMP)
	$(BIN)/pytest

clean: down
	rm -rf .stack .stack-test
