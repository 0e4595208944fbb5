# Quick start: `make demo` (train the embedded demo tagger, tag a sentence), `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export OMP_NUM_THREADS ?= 1

.PHONY: setup demo serve test test-slow lint format clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -e ".[dev]"
	touch $@

demo: setup
	rm -rf runs/demo  # the demo starts afresh each time (a finished run is never overwritten)
	$(VENV)/bin/nlptag fit --config configs/base/trainer.yaml --config configs/demo.yaml --trainer.default_root_dir runs/demo
	$(VENV)/bin/nlptag tag runs/demo/checkpoints/best.ckpt --text "The quick brown fox jumps over the lazy dog ."

# `make serve`: the demo tagger (train it first with `make demo`) behind `nlptag serve` on
# http://127.0.0.1:8000 (web demo at /, OpenAPI page at /docs).
runs/bundles/demo/config.json: runs/demo/checkpoints/best.ckpt
	$(VENV)/bin/nlptag export runs/demo/checkpoints/best.ckpt runs/bundles/demo

serve: setup runs/bundles/demo/config.json
	$(PY) -m pip install -e ".[serve]"
	$(VENV)/bin/nlptag serve runs/bundles/demo

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

lint: setup
	$(VENV)/bin/ruff check nlptag data_modules tests benchmarks
	$(VENV)/bin/ruff format --check nlptag data_modules tests benchmarks

format: setup
	$(VENV)/bin/ruff format nlptag data_modules tests benchmarks
	$(VENV)/bin/ruff check --fix nlptag data_modules tests benchmarks

clean:
	rm -rf runs lightning_logs .pytest_cache
