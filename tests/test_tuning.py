"""dp100.tuning: HyperDrive names and rules on top of Optuna."""

import math

import optuna
import pytest

from dp100.tuning import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    MedianStoppingPolicy,
    PrimaryMetricGoal,
    RandomParameterSampling,
    TruncationSelectionPolicy,
    TuningError,
    bandit_rule,
    choice,
    grid_size,
    is_evaluation_interval,
    loguniform,
    truncation_rule,
    uniform,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
NOTES_GRID = {"--n_estimators": choice(10, 20, 50, 100), "--min_samples_leaf": choice(1, 2, 5)}


# -- search spaces and run counts ---------------------------------------------------------------
def test_choice_takes_both_azure_forms():
    assert choice(1, 2, 3) == choice([1, 2, 3])


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: choice(), "at least one"),
        (lambda: choice(1, 1), "distinct"),
        (lambda: uniform(1, 1), "smaller"),
        (lambda: uniform(0, float("inf")), "finite"),
        (lambda: uniform("a", 2), "numbers"),
        (lambda: loguniform(2, 1), "smaller"),
    ],
)
def test_bad_expressions_are_refused(make, match):
    with pytest.raises(TuningError, match=match):
        make()


def test_grid_size_and_the_notes_run_count():
    assert grid_size(NOTES_GRID) == 12
    config = HyperDriveConfig(GridParameterSampling(NOTES_GRID), "accuracy", max_total_runs=20, max_concurrent_runs=2)
    assert config.total_runs == 12
    assert HyperDriveConfig(GridParameterSampling(NOTES_GRID), "accuracy", max_total_runs=5).total_runs == 5
    assert HyperDriveConfig(RandomParameterSampling(NOTES_GRID), "accuracy", max_total_runs=20).total_runs == 20


def test_grid_refuses_ranges_and_bad_spaces():
    with pytest.raises(TuningError, match="only choice"):
        GridParameterSampling({"lr": uniform(0.01, 0.1)})
    with pytest.raises(TuningError, match="non-empty dict"):
        RandomParameterSampling({})
    with pytest.raises(TuningError, match="not choice"):
        RandomParameterSampling({"lr": [0.1, 0.2]})


def test_random_and_bayesian_accept_choice_and_ranges():
    space = {"a": choice(1, 2), "b": uniform(0, 1), "c": loguniform(-3, 0)}
    for sampling in (RandomParameterSampling, BayesianParameterSampling):
        run = HyperDriveConfig(sampling(space), "m", PrimaryMetricGoal.MINIMIZE, max_total_runs=6).run(
            lambda trial, p: p["b"] + p["a"]
        )
        assert len(run.study.trials) == 6
        for t in run.study.trials:
            assert t.params["a"] in (1, 2) and 0 <= t.params["b"] <= 1
            assert math.exp(-3) <= t.params["c"] <= 1


def test_grid_sweep_runs_every_combination_once_with_two_workers():
    run = HyperDriveConfig(GridParameterSampling(NOTES_GRID), "accuracy", max_total_runs=20, max_concurrent_runs=2).run(
        lambda trial, p: p["--n_estimators"] / p["--min_samples_leaf"]
    )
    combos = {(t.params["--n_estimators"], t.params["--min_samples_leaf"]) for t in run.study.trials}
    assert len(run.study.trials) == 12 and len(combos) == 12
    best = run.get_best_run_by_primary_metric()
    assert best["params"] == {"--n_estimators": 100, "--min_samples_leaf": 1} and best["accuracy"] == 100


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"primary_metric_goal": "up"}, "MAXIMIZE or MINIMIZE"),
        ({"primary_metric_name": ""}, "primary_metric_name"),
        ({"max_total_runs": 0}, "max_total_runs"),
        ({"max_concurrent_runs": 1.5}, "max_concurrent_runs"),
    ],
)
def test_bad_config_is_refused(kwargs, match):
    args = {"hyperparameter_sampling": RandomParameterSampling(NOTES_GRID), "primary_metric_name": "accuracy", **kwargs}
    with pytest.raises(TuningError, match=match):
        HyperDriveConfig(**args)


def test_bayesian_sampling_refuses_early_termination():
    with pytest.raises(TuningError, match="Bayesian sampling does not support early termination"):
        HyperDriveConfig(BayesianParameterSampling(NOTES_GRID), "accuracy", policy=BanditPolicy(slack_factor=0.1))


def test_config_needs_a_sampling_and_a_callable():
    with pytest.raises(TuningError, match="hyperparameter_sampling"):
        HyperDriveConfig(NOTES_GRID, "accuracy")
    with pytest.raises(TuningError, match="objective"):
        HyperDriveConfig(RandomParameterSampling(NOTES_GRID), "accuracy").run("train.py")


# -- the rules ----------------------------------------------------------------------------------
def test_evaluation_interval_and_delay():
    assert [s for s in range(1, 13) if is_evaluation_interval(s, 2, 5)] == [6, 8, 10, 12]
    assert [s for s in range(1, 5) if is_evaluation_interval(s)] == [1, 2, 3, 4]
    assert not is_evaluation_interval(0)
    with pytest.raises(TuningError, match="evaluation_interval"):
        is_evaluation_interval(1, 0)
    with pytest.raises(TuningError, match="delay_evaluation"):
        is_evaluation_interval(1, 1, -1)


def test_bandit_rule_matches_azure_examples():
    assert bandit_rule(0.72, 0.8, 1, slack_factor=0.1)  # below 0.8 / 1.1 = 0.727
    assert bandit_rule(0.725, 0.8, 1, slack_factor=0.1)  # not best * 0.9 = 0.72
    assert not bandit_rule(0.73, 0.8, 1, slack_factor=0.1)
    assert bandit_rule(0.59, 0.8, 1, slack_amount=0.2)
    assert not bandit_rule(0.5, 1.0, 1, slack_amount=0.5)  # exactly on the limit: kept


def test_bandit_rule_minimise_interval_delay():
    assert bandit_rule(0.23, 0.2, 1, maximize=False, slack_factor=0.1)
    assert not bandit_rule(0.21, 0.2, 1, maximize=False, slack_factor=0.1)
    assert bandit_rule(1.75, 1.0, 1, maximize=False, slack_amount=0.5)
    assert not bandit_rule(0.1, 0.8, 3, slack_factor=0.1, evaluation_interval=2)
    assert not bandit_rule(0.1, 0.8, 4, slack_factor=0.1, delay_evaluation=5)
    assert bandit_rule(0.1, 0.8, 5, slack_factor=0.1, delay_evaluation=5)


@pytest.mark.parametrize(
    "kwargs", [{}, {"slack_factor": 0.1, "slack_amount": 0.1}, {"slack_factor": -1}, {"slack_amount": "0.1"}]
)
def test_bandit_needs_exactly_one_valid_slack(kwargs):
    with pytest.raises(TuningError, match="slack"):
        bandit_rule(0.5, 0.8, 1, **kwargs)
    with pytest.raises(TuningError, match="slack"):
        BanditPolicy(**kwargs)


def test_truncation_rule():
    ten = [i / 10 for i in range(1, 11)]

    def stop(v, pct, **kw):
        return truncation_rule(v, [x for x in ten if x != v], 1, truncation_percentage=pct, **kw)

    assert [v for v in ten if stop(v, 20)] == [0.1, 0.2]
    assert [v for v in ten if stop(v, 20, maximize=False)] == [0.9, 1.0]
    assert [v for v in ten if stop(v, 30)] == [0.1, 0.2, 0.3]
    assert not truncation_rule(0.1, [0.2, 0.3, 0.4], 1, truncation_percentage=20)  # floor(4 * 0.2) = 0
    assert not truncation_rule(0.1, [0.2], 2, truncation_percentage=50, delay_evaluation=3)


@pytest.mark.parametrize("pct", [0, 100, -5, "20", True])
def test_truncation_percentage_must_be_1_to_99(pct):
    with pytest.raises(TuningError, match="truncation_percentage"):
        truncation_rule(0.1, [0.2], 1, truncation_percentage=pct)
    with pytest.raises(TuningError, match="truncation_percentage"):
        TruncationSelectionPolicy(pct)


# -- the policies as Optuna pruners -------------------------------------------------------------
CURVES = [
    [0.5, 0.6, 0.7, 0.8],
    [0.1, 0.1, 0.1, 0.1],
    [0.5, 0.55, 0.65, 0.75],
    [0.25, 0.3, 0.3, 0.3],
    [0.45, 0.6, 0.7, 0.8],
]


def _sweep(policy, direction="maximize", curves=CURVES):
    study = optuna.create_study(direction=direction, pruner=policy, sampler=optuna.samplers.RandomSampler(0))
    stopped_at = {}

    def objective(trial):
        curve = curves[trial.number]
        for step, v in enumerate(curve, start=1):
            trial.report(v, step)
            if trial.should_prune():
                stopped_at[trial.number] = step
                raise optuna.TrialPruned()
        return curve[-1]

    study.optimize(objective, n_trials=len(curves))
    return stopped_at


def test_bandit_policy_prunes_runs_outside_the_slack():
    assert _sweep(BanditPolicy(slack_amount=0.2)) == {1: 1, 3: 1}
    assert _sweep(BanditPolicy(slack_amount=0.2, delay_evaluation=3)) == {1: 3, 3: 3}
    low = [[1 - v for v in c] for c in CURVES]
    assert _sweep(BanditPolicy(slack_amount=0.2), direction="minimize", curves=low) == {1: 1, 3: 1}


def test_truncation_policy_cancels_the_lowest_runs():
    # trial 3, step 1: 4 runs, 50% cancels 2; 0.25 beats only 0.1 -> cancelled.
    # trial 2, step 2: 2 runs (0.6, 0.55), 50% cancels 1 -> cancelled. trial 4, step 3: tied with
    # the only other run (0.7), none strictly worse -> cancelled.
    assert _sweep(TruncationSelectionPolicy(50)) == {1: 1, 2: 2, 3: 1, 4: 3}
    assert _sweep(TruncationSelectionPolicy(10)) == {}


def test_median_stopping_is_optunas_median_pruner():
    policy = MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=2)
    assert isinstance(policy, optuna.pruners.MedianPruner)
    # from step 2 on, compared with the median of the finished trials (only trial 0: 0.6 at step 2)
    assert _sweep(policy) == {1: 2, 2: 2, 3: 2}
    with pytest.raises(TuningError, match="evaluation_interval"):
        MedianStoppingPolicy(evaluation_interval=0)


@pytest.mark.parametrize("interval, delay", [(2, 5), (2, 4), (3, 1), (1, 0), (4, 0)])
def test_median_stopping_applies_at_azures_intervals(interval, delay):
    # Azure: every multiple of evaluation_interval that is >= delay_evaluation (Optuna alone would
    # check at delay + k * interval: 5, 7, 9 instead of 6, 8, 10 for interval 2, delay 5).
    policy = MedianStoppingPolicy(evaluation_interval=interval, delay_evaluation=delay)
    study = optuna.create_study(direction="maximize", pruner=policy)
    study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values={s: 1.0 for s in range(1, 13)}))
    checked = []
    trial = study.ask()
    for step in range(1, 13):
        trial.report(0.0, step)  # always below the median: pruned where checked
        if policy.prune(study, study._storage.get_trial(trial._trial_id)):
            checked.append(step)
            break
    assert checked == [next(s for s in range(1, 13) if is_evaluation_interval(s, interval, delay))]


def test_policies_name_their_settings():
    assert "slack_factor=0.1" in repr(BanditPolicy(slack_factor=0.1))
    assert "truncation_percentage=20" in repr(TruncationSelectionPolicy(20))
