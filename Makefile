.PHONY: test dev lint bench
test:  ## the README's test command
	bash scripts/test.sh
dev:   ## redis + worker + API on the local runtime; SIMULATOR=1: the CLI simulator
	bash scripts/dev.sh $(if $(filter 1 yes true,$(SIMULATOR)),--simulator)
lint:
	.venv/bin/ruff check .
bench:
	.venv/bin/python bench/latency.py
