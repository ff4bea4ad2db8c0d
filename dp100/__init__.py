"""dp100: the course's small package of local teaching equivalents of Azure ML.

Each module stands in for one Azure ML concept that has no open-source equivalent, mirrors the
SDK v1 names the exam uses, and says in its docstring that it is a local teaching equivalent, not
Azure. The real libraries (MLflow, Optuna, shap, fairlearn, scikit-learn, skl2onnx, onnxruntime,
opendp, Microsoft's inference server) are used directly by the notebooks.

- ``dp100.data``: the shipped bike-sharing and credit data sets, verified against their checksums.
- ``dp100.workspace``: workspace folder and config, datastores, versioned datasets, environments,
  compute (a pool of ``max_nodes`` processes), the workspace's MLflow tracking store.   (01)
- ``dp100.runs``: experiments, runs, script runs with arguments and a run context, on MLflow. (02)
- ``dp100.pipeline``: pipelines of script and batch steps, data passed through a datastore,   (02)
  runtime parameters, published pipelines and versioned pipeline endpoints.                (04)
- ``dp100.tuning``: HyperDrive on Optuna: sampling, Bandit / median / truncation policies.    (03)
- ``dp100.drift``: a dataset drift monitor (baseline, timestamped target, drift per period).   (03)
- ``dp100.serving``: Microsoft's inference server, started and stopped locally.              (04)
- ``dp100.auth``: key and token authentication in front of the scoring server.               (04)
- ``dp100.batch``: ParallelRunStep-style batch runner (run in pipelines by dp100.pipeline).  (04)
- ``dp100.rbac``: Azure RBAC role evaluation (Actions minus NotActions, wildcards).           (05)
"""

__version__ = "0.1.0"
