"""Every SDK v2 snippet of every notebook runs offline against the real azure-ai-ml (tools/v2_snippets.py,
tools/azure_offline.py), and the harness itself fails on the mistakes it exists to catch."""

import json

import pytest
from conftest import ROOT, assignments

from tools import azure_offline, v2_snippets


@pytest.mark.slow
@pytest.mark.parametrize("name", assignments())
def test_v2_snippets_of_notebook_run_and_validate(name):
    report = v2_snippets.check_notebook(ROOT / "source" / name / f"{name}.ipynb")
    assert report.ok, (
        f"{len(report.failures)} SDK v2 snippet failure(s) "
        f"(run: .venv/bin/python tools/v2_snippets.py source/{name}/{name}.ipynb -v)\n" + "\n".join(report.failures)
    )
    assert report.snippets, f"{name}: no SDK v2 snippet was run"


def _notebook(tmp_path, *snippets, marker="**Azure today (SDK v2):**"):
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": f"## Section {i}\n{marker}\n```python\n{code}\n```\n"}
        for i, code in enumerate(snippets)
    ]
    path = tmp_path / "selftest.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


GOOD = """from azure.ai.ml import command, Input
from azure.ai.ml.entities import AmlCompute
cluster = AmlCompute(name="cpu-cluster", size="STANDARD_D11_V2", max_instances=2)
ml_client.compute.begin_create_or_update(cluster).result()
job = command(code="./src", command="python train.py --alpha ${{inputs.alpha}}", inputs={"alpha": 0.5},
              environment="sklearn-env@latest", compute="cpu-cluster")
returned = ml_client.jobs.create_or_update(job, experiment_name="selftest")
ml_client.jobs.stream(returned.name)
keys = ml_client.online_endpoints.get_keys(name="bike-endpoint")
key = keys.primary_key"""


def test_harness_passes_correct_code_and_records_calls(tmp_path):
    report = v2_snippets.check_notebook(_notebook(tmp_path, GOOD))
    assert report.ok, report.failures
    assert [c.split("(")[0] for c in report.calls] == [
        "ml_client.compute.begin_create_or_update",
        "ml_client.jobs.create_or_update",
        "ml_client.jobs.stream",
        "ml_client.online_endpoints.get_keys",
    ]
    yaml = dict(report.entities)
    assert any("type: amlcompute" in text for text in yaml.values())
    assert any("type: command" in text and "experiment_name" not in label for label, text in report.entities)


@pytest.mark.parametrize(
    "bad, expected",
    [
        # a keyword the real method does not have (no **kwargs to hide behind)
        ('ml_client.online_endpoints.get_keys(endpoint_name="bike-endpoint")', "does not match the real"),
        # a keyword that only the SDK's **kwargs would have swallowed
        ("ml_client.jobs.create_or_update(job, wait=True)", "passes wait: not a parameter"),
        # an operations method that does not exist
        ("ml_client.jobs.submit(job)", "has no attribute 'submit'"),
        # an operations group that does not exist
        ('ml_client.experiments.get("x")', "has no attribute 'experiments'"),
        # an attribute the real return type does not have
        ('ml_client.online_endpoints.get(name="e").scoring_url', "has no attribute 'scoring_url'"),
        # an invalid entity: a Data asset type the CLI's schema rejects
        (
            "from azure.ai.ml.entities import Data\n"
            'd = Data(name="d", type="uri_fle", path="azureml://datastores/x/paths/y.csv")',
            "uri_file, uri_folder",
        ),
        # an invalid entity passed straight to a call
        (
            "from azure.ai.ml.entities import ManagedOnlineEndpoint\n"
            'ml_client.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="e", auth_mode="keys"))',
            "aml_token",
        ),
        # a name that does not exist in the SDK
        ("from azure.ai.ml.entities import AksCompute2", "cannot import name"),
        # an SDK v1 keyword to an entity constructor
        (
            "from azure.ai.ml.entities import AmlCompute\n"
            'cluster = AmlCompute(name="c", vm_size="STANDARD_D11_V2", max_nodes=2)',
            "not vm_size/max_nodes",
        ),
        # an SDK v1 keyword that command()'s **kwargs would drop silently
        (
            'job2 = command(code="./src", command="python train.py", environment="e@latest",\n'
            '               compute_target="cpu-cluster")',
            "got compute_target: not a parameter",
        ),
    ],
)
def test_harness_catches_mistakes_with_notebook_cell_and_line(tmp_path, bad, expected):
    setup = (
        "from azure.ai.ml import command\n"
        'job = command(code="./src", command="python train.py", environment="e@latest", compute="c")'
    )
    report = v2_snippets.check_notebook(_notebook(tmp_path, setup, bad))
    assert len(report.failures) == 1, report.failures
    failure = report.failures[0]
    assert "selftest.ipynb cell 1 [## Section 1]" in failure, failure
    assert expected in failure, failure
    # the failing statement's first line (an invalid entity: where its variable is assigned) in the
    # markdown cell, whose lines are: heading, marker, fence, then the code
    line = 3 + len(bad.splitlines()) - (1 if "compute_target" in bad else 0)
    assert f" line {line}:" in failure, failure


def test_unmarked_v2_code_is_reported_not_skipped(tmp_path):
    report = v2_snippets.check_notebook(_notebook(tmp_path, "ml_client.jobs.submit(x)", marker="SDK v2:"))
    assert not report.snippets
    assert len(report.failures) == 1 and "no marker line" in report.failures[0], report.failures


def test_no_network_and_calls_restored(tmp_path):
    import socket

    import azure.ai.ml

    operations = {cls: dict(vars(cls)) for cls in azure_offline.operation_classes()}
    builders = (azure.ai.ml.command, socket.getaddrinfo, socket.socket.connect)
    by_name = 'import socket\nsocket.create_connection(("management.azure.com", 443), timeout=5)'
    by_address = 'import socket\nsocket.create_connection(("203.0.113.7", 443), timeout=5)'
    report = v2_snippets.check_notebook(_notebook(tmp_path, by_name, by_address))
    assert len(report.failures) == 2, report.failures
    assert all("network access to" in failure for failure in report.failures), report.failures
    assert {cls: dict(vars(cls)) for cls in operations} == operations, "operations left patched"
    assert (azure.ai.ml.command, socket.getaddrinfo, socket.socket.connect) == builders


def test_marker_variants_and_order(tmp_path):
    """`**Azure today (SDK v2 + MLflow):** text` marks too; snippets share one namespace, in order."""
    path = _notebook(
        tmp_path,
        "from azure.ai.ml.entities import Environment",
        'env = Environment(name="e", conda_file="conda.yml", image="mcr.microsoft.com/x:1")',
        marker="**Azure today (SDK v2 + MLflow):** a data asset.",
    )
    report = v2_snippets.check_notebook(path)
    assert report.ok and len(report.snippets) == 2, report.failures
    assert any("env = Environment" in label for label, _ in report.entities)
