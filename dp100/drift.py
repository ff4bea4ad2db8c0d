"""A dataset drift monitor: baseline dataset, timestamped target dataset, drift per feature per period.

LOCAL TEACHING EQUIVALENT OF AZURE ML'S DATASET MONITOR (SDK v1
``azureml.datadrift.DataDriftDetector``), NOT AZURE. As in Azure:

- a monitor compares a *baseline* dataset with a *target* dataset;
- the target dataset must have the **timeseries trait** (a timestamp column, set with
  ``dataset.with_timestamp_columns("col")``); without it the monitor is refused;
- ``backfill(start, end)`` computes drift for each period (``frequency`` "Day", "Week" or "Month")
  of the target between ``start`` and ``end``, feature by feature.

Drift of one feature in one period is a named statistic between the baseline's values and the
period's values (Azure reports the same per-feature statistics in its drift results):

- ``"wasserstein"``: ``scipy.stats.wasserstein_distance`` (earth mover's distance), in the units
  of the feature; 0 means identical distributions.
- ``"psi"``: population stability index over 10 quantile bins of the baseline; unitless
  (rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift).

Azure's overall "drift magnitude" comes from a classifier trained to tell baseline from target;
this monitor reports the per-feature statistics only. Erratum: Azure retired dataset monitors
in 2025 in favour of model monitoring (SDK v2 ``MonitorSchedule`` with data-drift signals).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DriftError",
    "STATISTICS",
    "FREQUENCIES",
    "wasserstein",
    "psi",
    "drift_by_period",
    "DataDriftDetector",
    "plot_drift",
]

FREQUENCIES = {"Day": "D", "Week": "W", "Month": "M"}


class DriftError(ValueError):
    """The monitor cannot be built or run as asked; the message says what is wrong."""


def wasserstein(baseline: Iterable[float], target: Iterable[float]) -> float:
    """Earth mover's distance between two samples (``scipy.stats.wasserstein_distance``)."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(np.asarray(baseline, float), np.asarray(target, float)))


def psi(baseline: Iterable[float], target: Iterable[float], bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index: ``sum((t - b) * ln(t / b))`` over quantile bins of the baseline."""
    b = np.asarray(baseline, float)
    t = np.asarray(target, float)
    edges = np.unique(np.quantile(b, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    b_share = np.histogram(b, edges)[0] / len(b)
    t_share = np.histogram(t, edges)[0] / len(t)
    b_share, t_share = np.clip(b_share, eps, None), np.clip(t_share, eps, None)
    return float(np.sum((t_share - b_share) * np.log(t_share / b_share)))


STATISTICS = {"wasserstein": wasserstein, "psi": psi}


def _check_frame(df: Any, what: str, features: list[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DriftError(f"the {what} must be a pandas DataFrame or a TabularDataset, got {type(df).__name__}")
    if df.empty:
        raise DriftError(f"the {what} has no rows")
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise DriftError(f"the {what} has no column(s) {missing}; it has {list(df.columns)}")
    not_numeric = [f for f in features if not pd.api.types.is_numeric_dtype(df[f])]
    if not_numeric:
        raise DriftError(f"feature(s) {not_numeric} of the {what} are not numeric")


def drift_by_period(
    baseline: pd.DataFrame,
    target: pd.DataFrame,
    timestamp: str,
    features: list[str],
    frequency: str = "Month",
    statistic: str = "wasserstein",
) -> pd.DataFrame:
    """Drift of every feature in every period of ``target`` against the whole ``baseline``.

    Returns a DataFrame: one row per period (a ``pandas.Period`` index named ``period``), one
    column per feature, values = the statistic; ``df.attrs["statistic"]`` names it.
    """
    if statistic not in STATISTICS:
        raise DriftError(f"unknown statistic {statistic!r}; choose one of {sorted(STATISTICS)}")
    if frequency not in FREQUENCIES:
        raise DriftError(f"unknown frequency {frequency!r}; choose one of {sorted(FREQUENCIES)}")
    if not features:
        raise DriftError("name at least one feature to monitor")
    _check_frame(baseline, "baseline dataset", features)
    _check_frame(target, "target dataset", features)
    if not timestamp or timestamp not in target.columns:
        raise DriftError(
            f"the target dataset has no timestamp column {timestamp!r}: a target dataset "
            "needs the timeseries trait (dataset.with_timestamp_columns('column'))"
        )
    times = pd.to_datetime(target[timestamp], errors="coerce")
    if times.isna().any():
        raise DriftError(f"timestamp column {timestamp!r} has {int(times.isna().sum())} value(s) that are not dates")
    fn = STATISTICS[statistic]
    periods = times.dt.to_period(FREQUENCIES[frequency])
    rows = {}
    for period, part in target.groupby(periods, sort=True):
        rows[period] = {f: fn(baseline[f].dropna(), part[f].dropna()) for f in features}
    out = pd.DataFrame.from_dict(rows, orient="index")[features]
    out.index.name = "period"
    out.attrs["statistic"] = statistic
    return out


def _frame_and_timestamp(dataset: Any) -> tuple[pd.DataFrame, str | None]:
    if isinstance(dataset, pd.DataFrame):
        return dataset, None
    if hasattr(dataset, "to_pandas_dataframe"):
        return dataset.to_pandas_dataframe(), getattr(dataset, "timestamp_column", None)
    raise DriftError(f"expected a TabularDataset (or a DataFrame for the baseline), got {type(dataset).__name__}")


@dataclass
class DataDriftDetector:
    """A dataset monitor: ``DataDriftDetector.create_from_datasets(ws, name, baseline, target, ...)``."""

    name: str
    baseline: pd.DataFrame = field(repr=False)
    target: pd.DataFrame = field(repr=False)
    timestamp_column: str
    feature_list: list[str]
    frequency: str = "Month"
    drift_threshold: float = 0.3
    statistic: str = "wasserstein"
    workspace: Any = field(default=None, repr=False)

    @classmethod
    def create_from_datasets(
        cls,
        workspace: Any,
        name: str,
        baseline_data_set: Any,
        target_data_set: Any,
        compute_target: Any = None,
        frequency: str = "Month",
        feature_list: list[str] | None = None,
        drift_threshold: float = 0.3,
        statistic: str = "wasserstein",
    ) -> DataDriftDetector:
        """Build a monitor. The target must be a TabularDataset with a timestamp column."""
        if not isinstance(name, str) or not name:
            raise DriftError("a dataset monitor needs a name")
        if isinstance(target_data_set, pd.DataFrame):
            raise DriftError(
                "the target dataset must be a TabularDataset with the timeseries trait "
                "(register it, then dataset.with_timestamp_columns('column')); "
                "a plain DataFrame has no timestamp trait"
            )
        baseline, _ = _frame_and_timestamp(baseline_data_set)
        target, timestamp = _frame_and_timestamp(target_data_set)
        if not timestamp:
            raise DriftError(
                "the target dataset has no timeseries trait: Azure refuses a monitor on it. "
                "Set a timestamp column first: target = target.with_timestamp_columns('column')"
            )
        if frequency not in FREQUENCIES:
            raise DriftError(f"unknown frequency {frequency!r}; choose one of {sorted(FREQUENCIES)}")
        if statistic not in STATISTICS:
            raise DriftError(f"unknown statistic {statistic!r}; choose one of {sorted(STATISTICS)}")
        if isinstance(drift_threshold, bool) or not isinstance(drift_threshold, (int, float)) or drift_threshold <= 0:
            raise DriftError(f"drift_threshold must be a number > 0, got {drift_threshold!r}")
        features = (
            list(feature_list)
            if feature_list
            else [
                c
                for c in baseline.columns
                if c in target.columns and c != timestamp and pd.api.types.is_numeric_dtype(baseline[c])
            ]
        )
        _check_frame(baseline, "baseline dataset", features)
        _check_frame(target, "target dataset", features)
        return cls(name, baseline, target, timestamp, features, frequency, float(drift_threshold), statistic, workspace)

    def backfill(self, start_date: Any, end_date: Any) -> pd.DataFrame:
        """Drift per feature per period for target rows with ``start_date <= timestamp < end_date``.

        Also writes the result to ``<workspace>/datadrift/<name>.csv`` when the monitor has a workspace.
        """
        start, end = pd.Timestamp(start_date), pd.Timestamp(end_date)
        if not start < end:
            raise DriftError(f"backfill: start_date {start_date!r} must be before end_date {end_date!r}")
        times = pd.to_datetime(self.target[self.timestamp_column])
        window = self.target[(times >= start) & (times < end)]
        if window.empty:
            raise DriftError(
                f"backfill: the target dataset has no rows between {start.date()} and {end.date()} "
                f"(it covers {times.min().date()} to {times.max().date()})"
            )
        result = drift_by_period(
            self.baseline, window, self.timestamp_column, self.feature_list, self.frequency, self.statistic
        )
        root = getattr(self.workspace, "root", None)
        if root is not None:
            folder = Path(root) / "datadrift"
            folder.mkdir(parents=True, exist_ok=True)
            result.to_csv(folder / f"{self.name}.csv")
        return result

    def alerts(self, result: pd.DataFrame) -> pd.DataFrame:
        """The (period, feature) pairs whose drift exceeds ``drift_threshold``."""
        stacked = result.stack()
        over = stacked[stacked > self.drift_threshold]
        return (
            over.rename(result.attrs.get("statistic", self.statistic))
            .reset_index()
            .rename(columns={"level_1": "feature"})
        )


def plot_drift(result: pd.DataFrame, threshold: float | None = None, ax: Any = None, title: str | None = None):
    """Line plot of drift over time, one line per feature, with the alert threshold dashed."""
    import matplotlib.pyplot as plt

    if not isinstance(result, pd.DataFrame) or result.empty:
        raise DriftError("plot_drift needs the non-empty DataFrame returned by backfill()")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    x = result.index.to_timestamp() if isinstance(result.index, pd.PeriodIndex) else result.index
    for col in result.columns:
        ax.plot(x, result[col], marker="o", label=col)
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle="--", label=f"threshold {threshold}")
    ax.set_ylabel(result.attrs.get("statistic", "drift"))
    ax.set_title(title or "Drift of each feature against the baseline, per period")
    ax.legend(loc="upper left", fontsize="small", ncol=2)
    return ax
