"""The set-up a newcomer relies on: a hashed lock made from requirements.in, one source of pins, nbgrader OK."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def _pins(text: str) -> dict[str, str]:
    """{normalised name: version} of the `name==version` lines of a requirements file."""
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+!\-]+)", text, flags=re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in found}


def _lock_entries() -> list[str]:
    """The lock's packages, one text each: `name==version \`, its `--hash` lines and its `# via` lines."""
    entries = re.split(r"\n(?=\S)", (ROOT / "requirements.txt").read_text())
    return [e for e in entries if not e.startswith("#")]


def test_the_lock_pins_every_package_with_hashes():
    entries = _lock_entries()
    loose = [e.split()[0] for e in entries if not re.match(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+!\-]+(\s|$)", e)]
    unhashed = [e.split()[0] for e in entries if "--hash=sha256:" not in e]
    assert not loose, f"requirements.txt entries not pinned with ==: {loose}"
    assert not unhashed, f"requirements.txt entries without a hash: {unhashed}"
    header = (ROOT / "requirements.txt").read_text()[:300]
    assert "uv pip compile requirements.in --generate-hashes" in header, "requirements.txt is not `make lock`'s output"
    names = _pins("\n".join(entries))
    for needed in [
        "jupyterlab",
        "nbgrader",
        "pandas",
        "scikit-learn",
        "shap",
        "fairlearn",
        "mlflow",
        "optuna",
        "skl2onnx",
        "onnxruntime",
        "azureml-inference-server-http",
        "matplotlib",
        "tqdm",
        "pytest",
        "playwright",
        "opendp",
        "uv",
        "ruff",
    ]:
        assert needed in names, f"{needed} is not pinned in requirements.txt"


def test_the_lock_holds_what_requirements_in_chose():
    chosen = _pins((ROOT / "requirements.in").read_text())
    locked = _pins("\n".join(_lock_entries()))
    differ = {name: (version, locked.get(name)) for name, version in chosen.items() if locked.get(name) != version}
    assert not differ, f"requirements.in (left) and the lock (right) disagree: run `make lock`: {differ}"
    # and the other way: what the lock says came from requirements.in is still there
    from_in = _pins("\n".join(e for e in _lock_entries() if "-r requirements.in" in e))
    assert from_in.keys() == chosen.keys(), f"run `make lock`: {set(from_in) ^ set(chosen)}"


def test_conda_environment_installs_the_same_pins():
    assert "python=3.11" in (ROOT / "environment.yml").read_text()
    post_build = (ROOT / "postBuild").read_text()  # conda and Binder install the lock from it
    assert "pip install --no-deps --require-hashes -r requirements.txt" in post_build


def test_the_lock_leaves_out_the_slow_iri_checker():
    """rfc3987-syntax builds Earley parsers when jsonschema is imported: ~1 s of CPU in every process
    that imports nbformat (nbgrader, the grader, Jupyter). requirements-overrides.txt keeps it out."""
    assert "rfc3987-syntax" in (ROOT / "requirements-overrides.txt").read_text()
    assert "--override requirements-overrides.txt" in (ROOT / "Makefile").read_text()
    locked = _pins("\n".join(_lock_entries()))
    assert "rfc3987-syntax" not in locked and "lark" not in locked, "`make lock` ran without its overrides"
    assert importlib.util.find_spec("rfc3987_syntax") is None, "the venv is not the lock: run `make venv` (uv pip sync)"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_nbgrader_lab_extension_is_ok():
    jupyter = Path(sys.executable).parent / "jupyter"
    env = {**os.environ, "PATH": f"{jupyter.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True, env=env)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)
    assert re.search(r"@jupyter/nbgrader v0\.9\.6 enabled OK", text), text


def test_the_hub_venv_borrows_only_bytecode_of_the_very_same_files(tmp_path, monkeypatch):
    """hubctl links into the hub's venv the .pyc the running venv has for a module only when the
    module is the same file (one inode, as uv links both installs to its cache) and the venv is ours."""
    sys.path.insert(0, str(ROOT / "hub"))
    try:
        import hubctl
    finally:
        sys.path.remove(str(ROOT / "hub"))
    donor, site = tmp_path / "donor", tmp_path / "site"
    for folder in (donor / "pkg" / "__pycache__", site / "pkg"):
        folder.mkdir(parents=True)
    (donor / "pkg" / "same.py").write_text("A = 1\n")
    os.link(donor / "pkg" / "same.py", site / "pkg" / "same.py")
    (donor / "pkg" / "other.py").write_text("B = 1\n")
    (site / "pkg" / "other.py").write_text("B = 1\n")  # equal text, another file: not borrowed
    for name in ("same", "other"):
        (donor / "pkg" / "__pycache__" / f"{name}.cpython-311.pyc").write_bytes(b"bytecode")
    assert hubctl.borrow_bytecode(donor, site) == 1
    assert (site / "pkg" / "__pycache__" / "same.cpython-311.pyc").read_bytes() == b"bytecode"
    assert not (site / "pkg" / "__pycache__" / "other.cpython-311.pyc").exists()
    monkeypatch.setattr(hubctl.os, "getuid", lambda: os.stat(donor).st_uid + 1)
    assert hubctl.borrow_bytecode(donor, site) == 0, "a venv another user can write is not trusted"
