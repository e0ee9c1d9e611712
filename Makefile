.PHONY: test test-quick dev lint bench cli-drift
test:  ## the README's test command
	bash scripts/test.sh
test-quick:  ## the in-process tests only (no Docker, real CLI, browser or stack): under a minute
	bash scripts/test-quick.sh
dev:   ## redis + worker + API on the local runtime; SIMULATOR=1: the CLI simulator
	bash scripts/dev.sh $(if $(filter 1 yes true,$(SIMULATOR)),--simulator)
lint:
	.venv/bin/ruff check .
PYTHON ?= .venv/bin/python
bench: ## every benchmark figure -> BENCHMARKS.md (BENCH_ARGS=--quick for a 1-2 minute smoke run)
	$(PYTHON) -m bench $(BENCH_ARGS)
cli-drift:  ## the real-CLI tests against any published CLI release: make cli-drift VERSION=latest
	bash scripts/cli-drift.sh $(or $(VERSION),latest)
