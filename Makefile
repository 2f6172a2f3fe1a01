# make demo | make test | make bench | make lint
# Each target creates .venv and installs the project (with test extras) if needed.
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m benchmarks.dispatch
	$(PY) -m benchmarks.partitioner_scale

lint: $(STAMP)
	$(VENV)/bin/ruff check tfrt_ray device_actors scheduler tests benchmarks examples

clean:
	rm -rf $(VENV) bench_results .pytest_cache
