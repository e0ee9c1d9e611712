.PHONY: test dev lint bench
test:  ## the README's test command
	bash scripts/test.sh
dev:   ## redis + worker + API on the local runtime
	bash scripts/dev.sh
lint:
	.venv/bin/ruff check .
bench:
	.venv/bin/python bench/latency.py
