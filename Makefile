# The two set-up commands of the README: `make run` and `make test`. Both create .venv on first use.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/checkups run --demo

test: $(STAMP)
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(VENV)/bin/python bench/claim_throughput.py --enrolments 100000 --due 20000
	$(VENV)/bin/python bench/simulate_throughput.py --people 50 --years 1 --postgres postgresql://postgres@127.0.0.1:5432/postgres
	$(VENV)/bin/python bench/simulation_floor.py
	$(VENV)/bin/python bench/naive_eta_peer.py
	$(VENV)/bin/python bench/dashboard_queries.py --participants 2000

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
