# modeltrace: `make demo` and `make test` are all a fresh clone needs (Python 3.11, pip, make).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of PyTorch used by the torch tests and examples.
TORCH ?= torch==2.13.0

.PHONY: demo test bench fuzz lint format proto clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.dev: pyproject.toml | $(PY)
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[dev,demo,collector,torch]"
	touch $@

$(VENV)/.demo: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[demo,collector]"
	touch $@

$(VENV)/.bench: $(VENV)/.dev
	$(PIP) install --quiet -e ".[dev,demo,collector,torch,bench]"
	touch $@

demo: $(VENV)/.demo
	$(PY) examples/demo.py

# pytest exits 5 when it collects no test: that is a failure here, never a pass.
test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.bench
	$(PY) tests/bench/bench_sdk.py $(BENCH_ARGS)
	$(PY) tests/bench/bench_ingest.py
	$(PY) tests/bench/eval_analysis.py
	$(PY) tests/bench/bench_isolation.py
	$(PY) tests/bench/bench_reliability.py
	$(PY) tests/bench/bench_reference_upload.py

# The OTLP property test with thousands of examples and a fresh random seed (make test runs 300, seeded).
fuzz: $(VENV)/.dev
	MODELTRACE_FUZZ_EXAMPLES=$${MODELTRACE_FUZZ_EXAMPLES:-3000} MODELTRACE_FUZZ_RANDOM=1 \
		$(PY) -m pytest -q -s tests/integration/test_fuzz.py

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
