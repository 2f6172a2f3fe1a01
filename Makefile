# make demo | make test | make bench | make conformance | make fuzz | make lint
# Each target creates .venv and installs the project (with test extras) if needed.
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: demo test bench conformance fuzz lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

# Two workers (pytest-xdist), each a test session with its own local Ray; a file's tests
# stay on one worker, so its fixtures start once, and files go out in the order
# tests/conftest.py gives them. Most of the suite waits on Ray processes, so two workers
# halve it even on two loaded cores.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

bench: $(STAMP)
	$(PY) -m benchmarks.dispatch
	$(PY) -m benchmarks.distributed
	$(PY) -m benchmarks.channel_scale
	$(PY) -m benchmarks.partitioner_scale
	$(PY) -m benchmarks.passes
	$(PY) -m benchmarks.startup
	$(PY) -m benchmarks.onnx_models
	$(PY) -m benchmarks.memory
	$(PY) -m benchmarks.batch_inference
	$(PY) -m benchmarks.ort_device
	$(PY) -m benchmarks.gpu

conformance: $(STAMP)
	$(PY) tests/onnx/conformance_report.py

fuzz: $(STAMP)
	$(PY) tests/executable/fuzz_long.py -n 20000
	for seed in 1 2 3 4 5 6 7 8 9 10; do \
		$(PY) -m pytest -q --hypothesis-seed=$$seed tests/ir tests/cluster \
			tests/runtime tests/executable tests/onnx/test_errors.py || exit 1; \
	done

lint: $(STAMP)
	$(VENV)/bin/ruff check tfrt_ray device_actors scheduler tests benchmarks examples

clean:
	rm -rf $(VENV) bench_results .pytest_cache
