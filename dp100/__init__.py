"""dp100: the course's small package of local teaching equivalents of Azure ML.

Each module stands in for one Azure ML concept that has no open-source equivalent, mirrors the
SDK v1 names the exam uses, and says in its docstring what it is the local equivalent of. The real
libraries (MLflow, Optuna, shap, fairlearn, scikit-learn, skl2onnx, onnxruntime, opendp, Microsoft's
inference server) are used directly by the notebooks.

Notebooks import from the facades (``dp100.workspace``, ``dp100.runs``, ``dp100.pipeline``,
``dp100.batch``, ``dp100.serving``), which re-export what the modules below define. Lower layers
first; a module imports only from layers above it in this list (tests/test_structure.py checks
there is no import cycle, no module over 500 lines and no private name imported across modules).

- data: ``data`` (the shipped bike-sharing and credit sets, checksummed).
- workspace (01): ``workspace_folder`` (folder, config.json), ``mlflow_store`` (the workspace's
  MLflow store, copied from an empty migrated one), ``datastores``, ``datasets`` (Tabular/File
  datasets, named inputs), ``environments``, ``compute`` (a pool of ``max_nodes`` processes);
  facade ``workspace``.
- runs (02): ``tracking`` (MLflow client per workspace), ``run_logging`` (log, log_list, tag,
  upload_file, written once), ``log_stream`` (following a job), ``snapshot``, ``experiment``
  (Experiment, Run), ``run_config`` (RunConfiguration, ScriptRunConfig, Estimator),
  ``script_runner`` (the process that runs a script), ``script_zygote`` (forks it with the imports
  done), ``run_context`` (``Run.get_context()``
  inside a script); facade ``runs``.
- pipelines (02, 04): ``pipeline_data``, ``pipeline_steps``, ``pipeline_run``,
  ``pipeline_definition`` (Pipeline, PublishedPipeline, PipelineEndpoint); facade ``pipeline``.
- batch (04): ``batch_config`` (ParallelRunConfig), ``batch_inputs`` (Tabular/File contracts),
  ``batch_worker``; facade ``batch`` (ParallelRunStep, run_parallel).
- tuning (03): ``tuning`` (HyperDrive on Optuna); ``drift`` (dataset drift monitor).
- endpoints (04): ``inference_server`` (azmlinfsrv as a managed process), ``auth`` (keys and
  tokens in front of it), ``serving`` (Webservice, deploy).
- access (05): ``rbac`` (Azure role evaluation: Actions minus NotActions, wildcards).
"""

import atexit
import gc

__version__ = "0.1.0"

# A kernel that has used pandas, scikit-learn and MLflow spends 1-2 s of CPU when it ends, in the
# interpreter's last garbage collection over its whole heap: at every kernel restart and after every
# graded notebook. What must happen at exit happens in atexit handlers (MLflow ends its runs, dp100
# stops its scripts, servers and nodes); objects still alive after them are left to the operating
# system, which Python allows (docs/stack-notes.md: a kernel's exit).
atexit.register(gc.freeze)
