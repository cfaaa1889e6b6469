PY ?= python3

.PHONY: install demo test test-fast lint format bench clean

install:  ## install sitsfusion with the pinned CPU torch and the dev tools
	$(PY) -m pip install -q -r requirements-dev.txt

demo: install  ## main job on the embedded default: simulate (synthetic) PASTIS-R, read it, summarise, plot
	$(PY) -m sitsfusion demo --out runs/demo

test: install  ## the test suite (what CI runs)
	$(PY) -m pytest -q

test-fast:  ## the suite without the tests marked slow (training runs, whole commands)
	$(PY) -m pytest -q -m "not slow"

lint:
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks

format:
	ruff format src tests benchmarks
	ruff check --fix src tests benchmarks

bench: install  ## speed measurements (not part of the test suite)
	$(PY) benchmarks/bench_reader.py
	$(PY) benchmarks/bench_parcel.py
	$(PY) benchmarks/bench_prepare.py
	$(PY) benchmarks/bench_bf16.py
	$(PY) benchmarks/bench_scaling.py
	$(PY) benchmarks/bench_map.py --memory

clean:
	rm -rf runs build dist .pytest_cache
