"""dp100: the course's small package of local teaching equivalents of Azure ML.

Each module stands in for one Azure ML concept that has no open-source equivalent; the real
libraries (MLflow, Optuna, shap, fairlearn, scikit-learn, skl2onnx, onnxruntime, Microsoft's
inference server) are used directly by the notebooks. Modules:

- ``dp100.data``: the shipped bike-sharing and credit data sets, verified against their checksums.
- ``dp100.workspace``: workspace folder, datastores, versioned datasets, environments, compute.
"""
__version__ = "0.1.0"
