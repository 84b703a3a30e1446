# The README's commands. Each installs what it needs first (idempotent, offline once installed).
.PHONY: run test lint format bench bench-eval setup

run:
	@bash scripts/setup.sh run
	@bash scripts/run.sh

test:
	@bash scripts/setup.sh test
	@.venv/bin/python -m pytest $(PYTEST_ARGS)

lint:
	@bash scripts/setup.sh test
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	DEBUG=1 .venv/bin/mypy

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench:
	@bash scripts/setup.sh test
	.venv/bin/python bench/ingest.py

bench-eval:
	@bash scripts/setup.sh test
	.venv/bin/python bench/eval_retrieval.py $(EVAL_ARGS)
