# Log Insight: `make run` runs the product on its embedded defaults, `make test` runs every test.
# Both install what they need (a .venv here; Kafka and Postgres for the tests).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run services services-down lint test bench proto clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Gateway + Dagster on embedded defaults, fed the bundled sample; Ctrl-C stops everything.
run: install
	$(VENV)/bin/loginsight up --sample

## Real Kafka (KRaft, Apache artifacts from Maven Central) and Postgres (Debian package).
services: install
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: install services lint
	bash scripts/test_tools.sh
	$(PY) -m pytest

## The four hot-path benchmarks (issue 4), each printing its table with ratios, ~10 minutes on
## 2 cores; their figures merge into bench/results/hotpath.json, summarized at the end.
bench: install services
	bash scripts/bench_tools.sh
	$(PY) -m bench.ingest_http --duration 10
	$(PY) -m bench.syslog_kafka --lines 500000
	$(PY) -m bench.filter --lines 1000000
	$(PY) -m bench.e2e_latency --errors 12
	$(PY) -m bench.summary

proto: install
	bash scripts/gen_proto.sh

clean:
	rm -rf .loginsight .pytest_cache .mypy_cache .ruff_cache
