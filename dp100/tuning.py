"""HyperDrive on Optuna: search spaces, sampling methods, early-termination policies, run counts.

LOCAL TEACHING EQUIVALENT OF AZURE ML HYPERDRIVE (SDK v1 ``azureml.train.hyperdrive``; SDK v2
``command_job.sweep(...)``), NOT AZURE. Optuna does the real work (samplers, trials, intermediate
values, pruning); this module only gives Optuna the names and the semantics the DP-100 notes use:

=========================================  ===============================================================
Azure ML (SDK v1)                          here
=========================================  ===============================================================
``choice(10, 20)``, ``uniform(a, b)``      :func:`choice`, :func:`uniform`, :func:`loguniform`
``GridParameterSampling``                  ``optuna.samplers.GridSampler`` (choice only; the grid's size)
``RandomParameterSampling``                ``optuna.samplers.RandomSampler``
``BayesianParameterSampling``              ``optuna.samplers.TPESampler`` (a Bayesian method; Azure's
                                           differs in detail) - and, as in Azure, no early termination
``BanditPolicy``                           :class:`BanditPolicy`, an Optuna pruner
``MedianStoppingPolicy``                   :func:`MedianStoppingPolicy` -> ``optuna.pruners.MedianPruner``
``TruncationSelectionPolicy``              :class:`TruncationSelectionPolicy`, an Optuna pruner
``HyperDriveConfig`` + ``submit``          :class:`HyperDriveConfig` and :meth:`HyperDriveConfig.run`
``get_best_run_by_primary_metric()``       :meth:`HyperDriveRun.get_best_run_by_primary_metric`
=========================================  ===============================================================

Intervals. A training script "logs the primary metric" once per interval; here it calls
``trial.report(value, step)`` with ``step`` = 1, 2, 3, ... (the interval count). A policy is applied at
interval ``step`` when ``step`` is a multiple of ``evaluation_interval`` and ``step >= delay_evaluation``
(the SDK reference: "the policy applies every multiple of evaluation_interval that is greater than or
equal to delay_evaluation").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import optuna

__all__ = [
    "TuningError",
    "choice",
    "uniform",
    "loguniform",
    "grid_size",
    "suggest",
    "GridParameterSampling",
    "RandomParameterSampling",
    "BayesianParameterSampling",
    "is_evaluation_interval",
    "bandit_rule",
    "truncation_rule",
    "BanditPolicy",
    "MedianStoppingPolicy",
    "TruncationSelectionPolicy",
    "PrimaryMetricGoal",
    "HyperDriveConfig",
    "HyperDriveRun",
]


class TuningError(ValueError):
    """A search space, policy or HyperDrive configuration Azure would refuse; the message says why."""


# --------------------------------------------------------------------------------------------
# Search-space expressions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    values: tuple


@dataclass(frozen=True)
class Uniform:
    min_value: float
    max_value: float


@dataclass(frozen=True)
class LogUniform:
    """Azure's ``loguniform(min_value, max_value)``: ``exp(uniform(min_value, max_value))``."""

    min_value: float
    max_value: float


def choice(*options: Any) -> Choice:
    """A discrete set of values: ``choice(10, 20, 50)`` or ``choice([10, 20, 50])`` (both Azure forms)."""
    values = tuple(options[0]) if len(options) == 1 and isinstance(options[0], (list, tuple, range)) else options
    if not values:
        raise TuningError("choice() needs at least one value")
    if len(set(map(repr, values))) != len(values):
        raise TuningError(f"choice{values}: the values must be distinct")
    return Choice(values)


def _bounds(name: str, lo: Any, hi: Any) -> tuple[float, float]:
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise TuningError(f"{name}({lo!r}, {hi!r}): bounds must be finite numbers")
    if not lo < hi:
        raise TuningError(f"{name}({lo!r}, {hi!r}): min_value must be smaller than max_value")
    return float(lo), float(hi)


def uniform(min_value: float, max_value: float) -> Uniform:
    """A continuous range, every value in it equally likely."""
    return Uniform(*_bounds("uniform", min_value, max_value))


def loguniform(min_value: float, max_value: float) -> LogUniform:
    """``exp(uniform(min_value, max_value))``: the *bounds are exponents*, as in Azure."""
    return LogUniform(*_bounds("loguniform", min_value, max_value))


def _check_space(space: Any) -> dict[str, Any]:
    if not isinstance(space, dict) or not space:
        raise TuningError("a parameter space is a non-empty dict {name: choice(...) | uniform(...) | ...}")
    for name, expr in space.items():
        if not isinstance(name, str) or not name:
            raise TuningError(f"parameter name {name!r}: use a non-empty string such as '--n_estimators'")
        if not isinstance(expr, (Choice, Uniform, LogUniform)):
            raise TuningError(f"parameter {name!r}: {expr!r} is not choice(...), uniform(...) or loguniform(...)")
    return space


def grid_size(space: dict[str, Any]) -> int:
    """Number of combinations of a grid (only ``choice`` allowed, as in Azure's grid sampling)."""
    _check_space(space)
    bad = [n for n, e in space.items() if not isinstance(e, Choice)]
    if bad:
        raise TuningError(
            f"grid sampling supports only choice(...): {', '.join(bad)} "
            "is continuous; use random or Bayesian sampling for ranges"
        )
    return math.prod(len(e.values) for e in space.values())


def suggest(trial: optuna.Trial, space: dict[str, Any]) -> dict[str, Any]:
    """Draw one value per parameter through Optuna's ``trial.suggest_*`` API."""
    params = {}
    for name, expr in _check_space(space).items():
        if isinstance(expr, Choice):
            params[name] = trial.suggest_categorical(name, list(expr.values))
        elif isinstance(expr, Uniform):
            params[name] = trial.suggest_float(name, expr.min_value, expr.max_value)
        else:
            params[name] = trial.suggest_float(name, math.exp(expr.min_value), math.exp(expr.max_value), log=True)
    return params


# --------------------------------------------------------------------------------------------
# Sampling methods
# --------------------------------------------------------------------------------------------
class _Sampling:
    name = ""

    def __init__(self, parameter_space: dict[str, Any]):
        self.parameter_space = _check_space(parameter_space)

    def sampler(self, seed: int | None = 0) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.parameter_space!r})"


class GridParameterSampling(_Sampling):
    """Every combination of discrete ``choice`` values, via ``optuna.samplers.GridSampler``."""

    name = "grid"

    def __init__(self, parameter_space: dict[str, Any]):
        super().__init__(parameter_space)
        self.size = grid_size(parameter_space)

    def sampler(self, seed: int | None = 0) -> optuna.samplers.BaseSampler:
        return optuna.samplers.GridSampler({n: list(e.values) for n, e in self.parameter_space.items()}, seed=seed)


class RandomParameterSampling(_Sampling):
    """Values drawn at random from choices and ranges alike, via ``optuna.samplers.RandomSampler``."""

    name = "random"

    def sampler(self, seed: int | None = 0) -> optuna.samplers.BaseSampler:
        return optuna.samplers.RandomSampler(seed=seed)


class BayesianParameterSampling(_Sampling):
    """Each new trial chosen from the results of earlier ones, via ``optuna.samplers.TPESampler``."""

    name = "bayesian"

    def __init__(self, parameter_space: dict[str, Any], n_startup_trials: int = 5):
        super().__init__(parameter_space)
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) or n_startup_trials < 1:
            raise TuningError(f"n_startup_trials must be a whole number >= 1, got {n_startup_trials!r}")
        self.n_startup_trials = n_startup_trials  # random trials before TPE starts modelling (Optuna: 10)

    def sampler(self, seed: int | None = 0) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials)


# --------------------------------------------------------------------------------------------
# Early-termination rules (pure functions) and policies (Optuna pruners)
# --------------------------------------------------------------------------------------------
def _check_interval_args(evaluation_interval: Any, delay_evaluation: Any) -> None:
    if isinstance(evaluation_interval, bool) or not isinstance(evaluation_interval, int) or evaluation_interval < 1:
        raise TuningError(f"evaluation_interval must be a whole number >= 1, got {evaluation_interval!r}")
    if isinstance(delay_evaluation, bool) or not isinstance(delay_evaluation, int) or delay_evaluation < 0:
        raise TuningError(f"delay_evaluation must be a whole number >= 0, got {delay_evaluation!r}")


def is_evaluation_interval(step: int, evaluation_interval: int = 1, delay_evaluation: int = 0) -> bool:
    """Is the policy applied at interval ``step`` (1, 2, 3, ...)?"""
    _check_interval_args(evaluation_interval, delay_evaluation)
    return step >= 1 and step % evaluation_interval == 0 and step >= delay_evaluation


def _check_slack(slack_factor: Any, slack_amount: Any) -> None:
    if (slack_factor is None) == (slack_amount is None):
        raise TuningError("a Bandit policy needs exactly one of slack_factor or slack_amount")
    slack = slack_factor if slack_factor is not None else slack_amount
    if isinstance(slack, bool) or not isinstance(slack, (int, float)) or not slack >= 0:
        raise TuningError(f"slack must be a number >= 0, got {slack!r}")


def bandit_rule(
    value: float,
    best: float,
    step: int,
    *,
    maximize: bool = True,
    slack_factor: float | None = None,
    slack_amount: float | None = None,
    evaluation_interval: int = 1,
    delay_evaluation: int = 0,
) -> bool:
    """Azure's Bandit rule: stop a run whose metric is not within the slack of the best run's.

    Maximise: stop when ``value < best / (1 + slack_factor)`` or ``value < best - slack_amount``.
    Minimise: stop when ``value > best * (1 + slack_factor)`` or ``value > best + slack_amount``.
    Only at evaluation intervals (see :func:`is_evaluation_interval`).
    """
    _check_slack(slack_factor, slack_amount)
    if not is_evaluation_interval(step, evaluation_interval, delay_evaluation):
        return False
    if maximize:
        limit = best / (1 + slack_factor) if slack_factor is not None else best - slack_amount
        return value < limit
    limit = best * (1 + slack_factor) if slack_factor is not None else best + slack_amount
    return value > limit


def truncation_rule(
    value: float,
    others: Iterable[float],
    step: int,
    *,
    truncation_percentage: float,
    maximize: bool = True,
    evaluation_interval: int = 1,
    delay_evaluation: int = 0,
) -> bool:
    """The course's model of Azure's truncation selection: at an evaluation interval, cancel the
    lowest X% of the runs.

    With ``n`` runs at this interval (this one and ``others``), the ``k = floor(n * X / 100)`` worst
    are cancelled: this run stops when fewer than ``k`` runs are strictly worse than it. Azure
    documents no rounding rule; it also ranks a young run against the older runs' metrics at the
    same (and earlier) intervals, which is what ``others`` holds when the pruner calls this.
    """
    if (
        isinstance(truncation_percentage, bool)
        or not isinstance(truncation_percentage, (int, float))
        or not 1 <= truncation_percentage <= 99
    ):
        raise TuningError(f"truncation_percentage must be between 1 and 99, got {truncation_percentage!r}")
    others = list(others)
    if not is_evaluation_interval(step, evaluation_interval, delay_evaluation):
        return False
    k = math.floor((len(others) + 1) * truncation_percentage / 100)
    worse = sum(1 for o in others if (o < value if maximize else o > value))
    return worse < k


def _at_step(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> tuple[int | None, float | None, list[float]]:
    step = trial.last_step
    if step is None:
        return None, None, []
    others = [
        t.intermediate_values[step]
        for t in study.get_trials(deepcopy=False)
        if t.number != trial.number and step in t.intermediate_values
    ]
    return step, trial.intermediate_values[step], others


class BanditPolicy(optuna.pruners.BasePruner):
    """Azure's ``BanditPolicy(evaluation_interval, slack_factor | slack_amount, delay_evaluation)``
    as an Optuna pruner: compares a trial with the best value any trial reported at the same step."""

    def __init__(
        self,
        evaluation_interval: int = 1,
        slack_factor: float | None = None,
        slack_amount: float | None = None,
        delay_evaluation: int = 0,
    ):
        _check_slack(slack_factor, slack_amount)
        _check_interval_args(evaluation_interval, delay_evaluation)
        self.evaluation_interval, self.delay_evaluation = evaluation_interval, delay_evaluation
        self.slack_factor, self.slack_amount = slack_factor, slack_amount

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step, value, others = _at_step(study, trial)
        if step is None or not others:
            return False
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        best = max(others + [value]) if maximize else min(others + [value])
        return bandit_rule(
            value,
            best,
            step,
            maximize=maximize,
            slack_factor=self.slack_factor,
            slack_amount=self.slack_amount,
            evaluation_interval=self.evaluation_interval,
            delay_evaluation=self.delay_evaluation,
        )

    def __repr__(self) -> str:
        slack = (
            f"slack_factor={self.slack_factor}"
            if self.slack_factor is not None
            else f"slack_amount={self.slack_amount}"
        )
        return (
            f"BanditPolicy(evaluation_interval={self.evaluation_interval}, {slack}, "
            f"delay_evaluation={self.delay_evaluation})"
        )


class TruncationSelectionPolicy(optuna.pruners.BasePruner):
    """Azure's ``TruncationSelectionPolicy(truncation_percentage, evaluation_interval,
    delay_evaluation)`` as an Optuna pruner: cancels the lowest X% of the trials at a step."""

    def __init__(self, truncation_percentage: float, evaluation_interval: int = 1, delay_evaluation: int = 0):
        truncation_rule(0.0, [], 0, truncation_percentage=truncation_percentage)  # validates the percentage
        _check_interval_args(evaluation_interval, delay_evaluation)
        self.truncation_percentage = truncation_percentage
        self.evaluation_interval, self.delay_evaluation = evaluation_interval, delay_evaluation

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step, value, others = _at_step(study, trial)
        if step is None or not others:
            return False
        return truncation_rule(
            value,
            others,
            step,
            truncation_percentage=self.truncation_percentage,
            maximize=study.direction == optuna.study.StudyDirection.MAXIMIZE,
            evaluation_interval=self.evaluation_interval,
            delay_evaluation=self.delay_evaluation,
        )

    def __repr__(self) -> str:
        return (
            f"TruncationSelectionPolicy(truncation_percentage={self.truncation_percentage}, "
            f"evaluation_interval={self.evaluation_interval}, delay_evaluation={self.delay_evaluation})"
        )


def MedianStoppingPolicy(evaluation_interval: int = 1, delay_evaluation: int = 0) -> optuna.pruners.MedianPruner:
    """Azure's ``MedianStoppingPolicy`` as Optuna's own ``MedianPruner``.

    Optuna stops a trial whose best value so far is worse than the median of the finished trials'
    values at the same step; Azure compares with the median of all runs' running averages over
    intervals 1..N. Same idea, slightly different numbers. The intervals are Azure's: Optuna checks
    at ``n_warmup_steps + k * interval_steps``, so the warm-up is rounded up to the first multiple
    of ``evaluation_interval`` that is >= ``delay_evaluation`` (and >= 1: intervals count from 1).
    """
    _check_interval_args(evaluation_interval, delay_evaluation)
    first = -(-max(delay_evaluation, 1) // evaluation_interval) * evaluation_interval
    return optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=first, interval_steps=evaluation_interval)


# --------------------------------------------------------------------------------------------
# HyperDriveConfig
# --------------------------------------------------------------------------------------------
class PrimaryMetricGoal:
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


@dataclass
class HyperDriveRun:
    """The finished sweep: the Optuna study plus the SDK's way of asking for the best child run."""

    study: optuna.Study
    primary_metric_name: str

    def get_best_run_by_primary_metric(self) -> dict[str, Any]:
        best = self.study.best_trial
        return {"run_number": best.number, "params": dict(best.params), self.primary_metric_name: best.value}

    def get_metrics(self) -> dict[int, float | None]:
        return {t.number: t.value for t in self.study.trials}


@dataclass
class HyperDriveConfig:
    """Azure's ``HyperDriveConfig`` (the notes' arguments), run locally as one Optuna study.

    ``total_runs`` is what Azure would run: ``max_total_runs``, or fewer if a grid is smaller.
    """

    hyperparameter_sampling: _Sampling
    primary_metric_name: str
    primary_metric_goal: str = PrimaryMetricGoal.MAXIMIZE
    max_total_runs: int = 20
    max_concurrent_runs: int = 1
    policy: optuna.pruners.BasePruner | None = None
    seed: int | None = 0
    run_config: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.hyperparameter_sampling, _Sampling):
            raise TuningError("hyperparameter_sampling must be Grid-, Random- or BayesianParameterSampling(...)")
        if self.primary_metric_goal not in (PrimaryMetricGoal.MAXIMIZE, PrimaryMetricGoal.MINIMIZE):
            raise TuningError(
                f"primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or MINIMIZE, got {self.primary_metric_goal!r}"
            )
        if not isinstance(self.primary_metric_name, str) or not self.primary_metric_name:
            raise TuningError("primary_metric_name must name the metric the script logs, e.g. 'accuracy'")
        for name in ("max_total_runs", "max_concurrent_runs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise TuningError(f"{name} must be a whole number >= 1, got {v!r}")
        if isinstance(self.hyperparameter_sampling, BayesianParameterSampling) and self.policy is not None:
            raise TuningError("Bayesian sampling does not support early termination: set policy=None")

    @property
    def total_runs(self) -> int:
        sampling = self.hyperparameter_sampling
        if isinstance(sampling, GridParameterSampling):
            return min(self.max_total_runs, sampling.size)
        return self.max_total_runs

    def create_study(self) -> optuna.Study:
        return optuna.create_study(
            direction=self.primary_metric_goal,
            sampler=self.hyperparameter_sampling.sampler(self.seed),
            pruner=self.policy or optuna.pruners.NopPruner(),
            study_name=f"hyperdrive-{self.primary_metric_name}",
        )

    def run(
        self, objective: Callable[[optuna.Trial, dict[str, Any]], float], show_progress_bar: bool = False
    ) -> HyperDriveRun:
        """Run the sweep: ``objective(trial, params)`` trains once and returns the primary metric.

        It may report intermediate values (``trial.report(value, step)``) and stop when
        ``trial.should_prune()`` says so (raise ``optuna.TrialPruned``).
        """
        if not callable(objective):
            raise TuningError("objective must be a function objective(trial, params) -> metric")
        space = self.hyperparameter_sampling.parameter_space
        study = self.create_study()
        study.optimize(
            lambda trial: objective(trial, suggest(trial, space)),
            n_trials=self.total_runs,
            n_jobs=self.max_concurrent_runs,
            show_progress_bar=show_progress_bar,
        )
        return HyperDriveRun(study, self.primary_metric_name)
