"""The set-up a newcomer relies on: exact pins, one source of pins, nbgrader's extension OK."""
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_every_requirement_is_pinned_exactly():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    loose = [l for l in lines if not re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[A-Za-z0-9_.+!\-]+", l)]
    assert not loose, f"requirements.txt lines not pinned with ==: {loose}"
    names = {l.split("==")[0].lower().replace("_", "-") for l in lines}
    for needed in ["jupyterlab", "nbgrader", "pandas", "scikit-learn", "shap", "fairlearn", "mlflow",
                   "optuna", "skl2onnx", "onnxruntime", "azureml-inference-server-http",
                   "matplotlib", "tqdm", "pytest", "playwright", "opendp"]:
        assert needed in names, f"{needed} is not pinned in requirements.txt"


def test_conda_environment_installs_the_same_pins():
    text = (ROOT / "environment.yml").read_text()
    assert "-r requirements.txt" in text and "python=3.11" in text


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_nbgrader_lab_extension_is_ok():
    jupyter = Path(sys.executable).parent / "jupyter"
    env = {**os.environ, "PATH": f"{jupyter.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True, env=env)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    assert re.search(r"@jupyter/nbgrader v0\.9\.6 enabled OK", text), text
