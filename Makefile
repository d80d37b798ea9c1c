# modeltrace: `make demo` and `make test` are all a fresh clone needs (Python 3.11, pip, make).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of PyTorch used by the torch tests and examples.
TORCH ?= torch==2.13.0

# ClickHouse 24.8.4, the oldest version the collector supports, as chdb 2.1.1 embeds it: a second
# venv (chdb 2.1.1 and chdb-core both install the module chdb) where the storage, replay and
# analysis tests run again (pytest --clickhouse=24.8, see tests/engines).
VENV_CH248 := .venv-ch248
PY_CH248 := $(VENV_CH248)/bin/python
TESTS_CH248 := tests/collector/test_storage_client.py tests/collector/test_migrations.py \
	tests/collector/test_writer.py tests/collector/test_replay.py tests/collector/test_poison.py \
	tests/collector/test_drift.py tests/collector/test_multivariate.py tests/collector/test_quality.py \
	tests/collector/test_findings.py \
	tests/collector/test_latency.py tests/collector/test_performance.py tests/collector/test_feature_view.py \
	tests/collector/test_attribute_types.py tests/integration/test_attribute_types.py \
	tests/integration/test_durability.py tests/integration/test_analysis.py

.PHONY: demo test test-ch248 bench fuzz lint format proto clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.dev: pyproject.toml | $(PY)
	@echo "installing modeltrace, its test tools and the CPU build of PyTorch into $(VENV) (a few minutes the first time)"
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[dev,demo,collector,torch]"
	touch $@

$(VENV_CH248)/.dev: pyproject.toml tests/engines/requirements.py
	$(PYTHON) -m venv $(VENV_CH248)
	$(PY_CH248) -m pip install --quiet --upgrade pip
	$(PY_CH248) tests/engines/requirements.py > $(VENV_CH248)/requirements.txt
	$(PY_CH248) -m pip install --quiet -r $(VENV_CH248)/requirements.txt
	$(PY_CH248) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.demo: pyproject.toml | $(PY)
	@echo "installing modeltrace and the demo's dependencies into $(VENV) (about a minute the first time)"
	$(PIP) install --quiet -e ".[demo,collector]"
	touch $@

$(VENV)/.bench: $(VENV)/.dev
	$(PIP) install --quiet -e ".[dev,demo,collector,torch,bench]"
	touch $@

demo: $(VENV)/.demo
	$(PY) examples/demo.py

# pytest exits 5 when it collects no test: that is a failure here, never a pass.
test: $(VENV)/.dev $(VENV_CH248)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)
	$(PY_CH248) -m pytest --clickhouse=24.8 $(TESTS_CH248)

test-ch248: $(VENV_CH248)/.dev
	$(PY_CH248) -m pytest --clickhouse=24.8 $(TESTS_CH248) $(PYTEST_ARGS)

bench: $(VENV)/.bench
	$(PY) tests/bench/bench_sdk.py $(BENCH_ARGS)
	$(PY) tests/bench/bench_ingest.py
	$(PY) tests/bench/bench_http_ingest.py
	$(PY) tests/bench/eval_analysis.py
	$(PY) tests/bench/bench_isolation.py
	$(PY) tests/bench/bench_reliability.py
	$(PY) tests/bench/bench_reference_upload.py
	$(PY) tests/bench/bench_ui.py

# The OTLP property test with thousands of examples and a fresh random seed (make test runs 300, seeded).
fuzz: $(VENV)/.dev
	MODELTRACE_FUZZ_EXAMPLES=$${MODELTRACE_FUZZ_EXAMPLES:-3000} MODELTRACE_FUZZ_RANDOM=1 \
		$(PY) -m pytest -q -s --timeout=3600 tests/integration/test_fuzz.py

lint: $(VENV)/.dev
	$(PY) -m ruff check sdk collector tests examples proto deploy
	$(PY) -m ruff format --check sdk collector tests examples proto deploy
	$(PY) -m mypy

# Regenerates collector/modeltrace_collector/proto_gen from proto/ (a test fails when it is stale).
proto: $(VENV)/.dev
	$(PY) proto/generate.py

format: $(VENV)/.dev
	$(PY) -m ruff format sdk collector tests examples proto deploy
	$(PY) -m ruff check --fix sdk collector tests examples proto deploy

clean:
	rm -rf $(VENV) $(VENV_CH248) .pytest_cache .mypy_cache .ruff_cache .hypothesis
