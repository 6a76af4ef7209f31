# One-command set-up: a local virtual environment with everything the project uses.
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= runs/demo

.PHONY: demo test test-slow test-all lint format bench clean

# the package and its dependencies (torch==2.13.0, the CPU build)
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e .
	touch $@

# plus the test extras (pytest, hypothesis, Ray for the cluster test)
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(PY) -m trace_opt demo --out $(OUT)

# the fast suite (a few minutes on 2 cores); the tests marked slow (Ray cluster, process pools,
# report end to end, Ctrl-C sent to real subprocesses) run with `make test-slow`; CI runs both
test: $(VENV)/.installed-test
	$(PY) -m pytest -m "not slow"

# ruff (lint and format check) and mypy (the typed public modules listed under [tool.mypy] files), both
# configured in pyproject.toml; `make format` rewrites in place
lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test-slow: $(VENV)/.installed-test
	$(PY) -m pytest -m slow

test-all: $(VENV)/.installed-test
	$(PY) -m pytest

# every benchmark of bench/ (about an hour on 2 cores); results go to bench/results/
bench: $(VENV)/.installed
	$(PY) bench/sa_paper.py
	$(PY) bench/sa_batch.py
	$(PY) bench/sa_batch.py --threads 2
	$(PY) bench/sa_neighbourhoods.py
	$(PY) bench/solver_gap.py
	PY=$(PY) bash bench/instances_tuning.sh
	$(PY) -m trace_opt instances leaderboard --library instances/hard --solvers greedy sa tabu ga window-dp beam \
		--budgets 300 1000 3000 --seeds 0 1 --out bench/results --stem leaderboard_hard --no-progress
	$(PY) bench/leaderboard_hard.py
	$(PY) -m trace_opt tune --solver sa --library instances/hard --budget 1000 --trials 40 --seeds 0 1 2 \
		--holdout-every 2 --storage sqlite:///bench/results/tuning_sa_hard/study.db --out bench/results/tuning_sa_hard --no-progress
	$(PY) -m trace_opt tune --solver sa --library instances/hard --budget 3000 --trials 40 --seeds 0 1 2 \
		--holdout-every 2 --storage sqlite:///bench/results/tuning_sa_hard_b3000/study.db --out bench/results/tuning_sa_hard_b3000 --no-progress
	$(PY) bench/model_families.py
	$(PY) bench/sa_neighbourhoods_hard.py
	$(PY) bench/margin.py --seeds 12 --t 16
	$(PY) bench/gpu.py

clean:
	rm -rf $(VENV) runs .cache
