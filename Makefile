.PHONY: test dev lint bench
test:  ## the README's test command
	bash scripts/test.sh
dev:   ## redis + worker + API on the local runtime
	bash scripts/dev.sh
lint:
	.venv/bin/ruff check .
PYTHON ?= .venv/bin/python
bench: ## every benchmark figure -> BENCHMARKS.md (BENCH_ARGS=--quick for a 1-2 minute smoke run)
	$(PYTHON) -m bench $(BENCH_ARGS)
