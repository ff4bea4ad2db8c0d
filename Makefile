# DP-100 on your own machine. Every target creates .venv on first use and reuses it after.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: lab test release bench grade mlflow-ui venv clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (dp100)" >/dev/null
	@touch $@

## Open JupyterLab at the course start page (the five self-paced notebooks).
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) notebooks/README.md

## Run every test: data, dp100, both editions, honest grading of every assignment.
test: $(STAMP)
	$(PY) -m pytest

## Rebuild release/ (graded) and notebooks/ (self-paced) from source/.
release: $(STAMP)
	$(PY) tools/release.py

## Performance figures: solution notebook run times (and more as the course grows).
bench: $(STAMP)
	$(PY) tools/bench.py

## MLflow UI ("Studio") on a notebook's local workspace: make mlflow-ui WS=notebooks/workspace-02
WS ?= notebooks/workspace-01
mlflow-ui: $(STAMP)
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(abspath $(WS))/mlflow.db --port 5000

clean:
	rm -rf $(VENV) gradebook.db submitted autograded feedback .pytest_cache
