"""dp100.drift: the dataset monitor (baseline, timestamped target, drift per feature per period)."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from dp100.drift import DataDriftDetector, DriftError, drift_by_period, plot_drift, psi, wasserstein
from dp100.workspace import Dataset, Workspace


def _frames(shift=1.0):
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"x": rng.normal(0, 1, 500), "y": rng.uniform(0, 1, 500)})
    times = pd.date_range("2012-01-01", periods=90, freq="D").repeat(4)
    target = pd.DataFrame({"when": times, "x": rng.normal(0, 1, 360), "y": rng.uniform(0, 1, 360)})
    target.loc[target["when"].dt.month == 3, "x"] += shift  # March drifts
    return base, target


def test_statistics():
    a, b = np.arange(10.0), np.arange(10.0) + 2
    assert wasserstein(a, b) == pytest.approx(2.0)
    assert wasserstein(a, a) == 0
    assert psi(a, a) == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 2000)
    assert psi(base, rng.normal(0, 1, 2000)) < 0.05 < 0.25 < psi(base, rng.normal(1.5, 1, 2000))


def test_drift_by_period_per_month():
    base, target = _frames()
    out = drift_by_period(base, target, "when", ["x", "y"], "Month")
    assert [str(p) for p in out.index] == ["2012-01", "2012-02", "2012-03"]
    assert list(out.columns) == ["x", "y"] and out.attrs["statistic"] == "wasserstein"
    march = target[target["when"].dt.month == 3]
    assert out.loc[pd.Period("2012-03", "M"), "x"] == pytest.approx(wasserstein_distance(base["x"], march["x"]))
    assert out["x"].idxmax() == pd.Period("2012-03", "M") and out.loc[pd.Period("2012-03", "M"), "x"] > 0.8
    weekly = drift_by_period(base, target, "when", ["x"], "Week", statistic="psi")
    assert len(weekly) >= 13 and weekly.attrs["statistic"] == "psi"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"timestamp": "missing"}, "timeseries trait"),
        ({"features": ["nope"]}, r"no column\(s\) \['nope'\]"),
        ({"features": []}, "at least one feature"),
        ({"frequency": "Year"}, "unknown frequency"),
        ({"statistic": "ks"}, "unknown statistic"),
    ],
)
def test_drift_by_period_bad_input(kwargs, match):
    base, target = _frames()
    args = {"timestamp": "when", "features": ["x"], **kwargs}
    with pytest.raises(DriftError, match=match):
        drift_by_period(base, target, **args)


def test_bad_frames_and_timestamps():
    base, target = _frames()
    with pytest.raises(DriftError, match="no rows"):
        drift_by_period(base.iloc[:0], target, "when", ["x"])
    with pytest.raises(DriftError, match="DataFrame or a TabularDataset"):
        drift_by_period([1, 2], target, "when", ["x"])
    bad = target.astype({"when": str})
    bad.loc[0, "when"] = "not a date"
    with pytest.raises(DriftError, match="not dates"):
        drift_by_period(base, bad, "when", ["x"])
    text = target.assign(x=target["x"].astype(str))
    with pytest.raises(DriftError, match="not numeric"):
        drift_by_period(base, text, "when", ["x"])


@pytest.fixture
def datasets(tmp_path):
    ws = Workspace.create("ws-drift", path=tmp_path / "ws")
    base, target = _frames()
    store = ws.get_default_datastore()
    b = Dataset.Tabular.register_pandas_dataframe(base, store, "base")
    t = Dataset.Tabular.register_pandas_dataframe(target, store, "target")
    return ws, b, t


def test_monitor_refuses_a_target_without_timeseries_trait(datasets):
    ws, b, t = datasets
    with pytest.raises(DriftError, match="no timeseries trait"):
        DataDriftDetector.create_from_datasets(ws, "m", b, t, feature_list=["x"])
    with pytest.raises(DriftError, match="plain DataFrame"):
        DataDriftDetector.create_from_datasets(ws, "m", b, t.to_pandas_dataframe(), feature_list=["x"])


def test_monitor_backfill_writes_results_and_alerts(datasets):
    ws, b, t = datasets
    monitor = DataDriftDetector.create_from_datasets(
        ws, "m", b, t.with_timestamp_columns("when"), frequency="Month", drift_threshold=0.5
    )
    assert monitor.feature_list == ["x", "y"]  # numeric columns, not the timestamp
    result = monitor.backfill("2012-02-01", "2012-04-01")
    assert [str(p) for p in result.index] == ["2012-02", "2012-03"]
    assert (ws.root / "datadrift" / "m.csv").is_file()
    alerts = monitor.alerts(result)
    assert list(alerts["feature"]) == ["x"] and str(alerts["period"].iloc[0]) == "2012-03"
    ax = plot_drift(result, threshold=0.5)
    assert len(ax.lines) == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"frequency": "Hour"}, "unknown frequency"),
        ({"statistic": "mean"}, "unknown statistic"),
        ({"drift_threshold": 0}, "drift_threshold"),
        ({"feature_list": ["z"]}, r"no column\(s\) \['z'\]"),
        ({"name": ""}, "needs a name"),
    ],
)
def test_monitor_bad_settings(datasets, kwargs, match):
    ws, b, t = datasets
    args = {"name": "m", "baseline_data_set": b, "target_data_set": t.with_timestamp_columns("when"), **kwargs}
    with pytest.raises(DriftError, match=match):
        DataDriftDetector.create_from_datasets(ws, **args)


def test_backfill_bad_window(datasets):
    ws, b, t = datasets
    monitor = DataDriftDetector.create_from_datasets(ws, "m", b, t.with_timestamp_columns("when"))
    with pytest.raises(DriftError, match="must be before"):
        monitor.backfill("2012-03-01", "2012-01-01")
    with pytest.raises(DriftError, match="no rows between"):
        monitor.backfill("2013-01-01", "2013-02-01")


def test_plot_needs_a_result():
    with pytest.raises(DriftError, match="non-empty DataFrame"):
        plot_drift(pd.DataFrame())
