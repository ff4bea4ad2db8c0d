"""Plausible wrong answers, and differently written right answers, for 05-responsible-ai.

Each entry is the FULL new source of the answer cell `<test id>_answer`, as a learner would write
it. tests/test_answer_catalogue.py grades them (every wrong entry loses exactly its cell's points).
"""

_DISPARITY = (
    "def disparity(by_group):\n    return {body}\n\n\n"
    'recall_disparity = disparity(mf.by_group["recall"])\n'
    'selection_rate_disparity = disparity(mf.by_group["selection_rate"])\n'
    'print(f"recall disparity {{recall_disparity:.3f}}, selection-rate disparity {{selection_rate_disparity:.3f}}")\n'
)
_MITIGATION = (
    "from fairlearn.postprocessing import ThresholdOptimizer\n\n"
    'to_model = ThresholdOptimizer(estimator=model, constraints="{constraint}", objective="accuracy_score",\n'
    '                              prefit={prefit}, predict_method="predict_proba")\n'
    "to_model.fit({fit_data})\n"
    "to_pred = to_model.predict(X_test, sensitive_features=A_test, random_state=0)\n"
)
_LAPLACE = (
    "def laplace_mechanism(true_value, sensitivity, epsilon, rng):\n"
    "{checks}"
    "    return float(true_value + {noise})\n\n\n"
    "def dp_count(values, epsilon, rng):\n"
    "    return laplace_mechanism(len(values), 1.0, epsilon, rng)\n\n\n"
    "def dp_clipped_mean(values, lower, upper, epsilon, rng):\n"
    "{mean_body}"
)
_CHECKS = (
    '    if not epsilon > 0:\n        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")\n'
    '    if not sensitivity > 0:\n        raise ValueError(f"sensitivity must be > 0, got {sensitivity!r}")\n'
)
_MEAN = (
    "    clipped = np.clip(np.asarray(values, dtype=float), lower, upper)\n"
    "    return laplace_mechanism(clipped.mean(), (upper - lower) / len(clipped), epsilon, rng)\n"
)
_RBAC = "import re\n\n\ndef matches(pattern, operation):\n{matches}\n\ndef has_access(roles, operation):\n{has_access}"
_REGEX = (
    '    regex = re.escape(pattern).replace(r"/\\*/", "/(?:.*/)?").replace(r"\\*", ".*")\n'
    "    return re.{fn}(regex, operation{flags}) is not None\n"
)
_ANY_ROLE = (
    "    for role in roles:\n"
    '        granted = any(matches(p, operation) for p in role.get("Actions", []))\n'
    '        excluded = any(matches(p, operation) for p in role.get("NotActions", []))\n'
    "        if granted and not excluded:\n            return True\n    return False\n"
)
_PROJECT = (
    "mlproject_text = '''\\\nname: credit-default\n\n{env}"
    "entry_points:\n  main:\n    parameters:\n      C: {{type: float, default: 1.0}}\n"
    "    command: \"{command}\"\n'''\n"
    '(project_dir / "MLproject").write_text(mlproject_text)\n'
    'submitted = mlflow.run(str(project_dir), entry_point="main", {params}env_manager="local",\n'
    '                       experiment_name="credit-project")\n'
)
_FLAVORS = (
    "import yaml\n\n\ndef read_flavors(mlmodel_path):\n    return {body}\n\n\n"
    'model_flavors = read_flavors(model_dir / "MLmodel")\nmodel_flavors\n'
)
_AVERAGING = (
    "def sgd_epoch(w, X, y, lr, seed, batch_size=32):\n"
    "    w = np.array(w, dtype=float, copy=True)\n"
    "    order = np.random.default_rng(seed).permutation(len(y))\n"
    "    for start in range(0, len(y), batch_size):\n"
    "        b = order[start:start + batch_size]\n"
    "        w -= {step}\n"
    "    return w\n\n\n"
    "def allreduce_average(weights):\n    return {average}\n\n\n"
    "def _worker(task):\n    w, X, y, lr, seed = task\n    return sgd_epoch(w, X, y, lr, seed), os.getpid()\n\n\n"
    "def train_data_parallel(shards, epochs, lr, cluster, seed=0):\n"
    "    w = np.zeros(shards[0][0].shape[1])\n"
    "    worker_pids = set()\n"
    "    with cluster:\n"
    "        for epoch in range(epochs):\n"
    "            tasks = [(w, X_k, y_k, lr, seed + 1000 * epoch + k) for k, (X_k, y_k) in enumerate(shards)]\n"
    "            results = {run}\n"
    "            w = allreduce_average([w_k for w_k, _ in results])\n"
    "            worker_pids |= {{pid for _, pid in results}}\n"
    "    return w, worker_pids\n\n\n"
    "w_parallel, pids = train_data_parallel(shards, epochs=20, lr=0.05, cluster=cluster)\n"
)
_MEAN_STEP = "lr * X[b].T @ (sigmoid(X[b] @ w) - y[b]) / len(b)"
_AVG = "np.mean(np.stack(weights), axis=0)"
_ON_CLUSTER = "cluster.map(_worker, tasks)"

# test cell grade id -> [(why it is wrong, the FULL new source of its answer cell <id>_answer), ...]
WRONG = {
    "nb05_disparity": [
        (
            "signed difference of the first two groups: depends on their order",
            _DISPARITY.format(body="float(by_group.iloc[1] - by_group.iloc[0])"),
        ),
        ("the ratio instead of the difference", _DISPARITY.format(body="float(by_group.min() / by_group.max())")),
        ("only the first two groups", _DISPARITY.format(body="float(abs(by_group.iloc[0] - by_group.iloc[1]))")),
    ],
    "nb05_q_causes": [
        ("one cause missing", 'q_causes = {"a", "b"}\n'),
        ("the right letters as a list (wrong type)", 'q_causes = ["a", "b", "c"]\n'),
        ("the metric counted as a cause", 'q_causes = {"a", "b", "c", "d"}\n'),
    ],
    "nb05_q_mitigations": [
        ("dropping the sensitive column counted as a mitigation", 'q_mitigations = {"a", "b", "c", "d", "e"}\n'),
        ("the trade-off left out", 'q_mitigations = {"a", "b", "c"}\n'),
    ],
    "nb05_mitigation": [
        (
            "thresholds fitted on the TEST data",
            _MITIGATION.format(
                constraint="demographic_parity", prefit="True", fit_data="X_test, y_test, sensitive_features=A_test"
            ),
        ),
        (
            "the wrong constraint (equalized odds)",
            _MITIGATION.format(
                constraint="equalized_odds", prefit="True", fit_data="X_train, y_train, sensitive_features=A_train"
            ),
        ),
        (
            "prefit=False: retrains a copy instead of post-processing the trained model",
            _MITIGATION.format(
                constraint="demographic_parity", prefit="False", fit_data="X_train, y_train, sensitive_features=A_train"
            ),
        ),
    ],
    "nb05_q_technique_kinds": [
        (
            "ThresholdOptimizer called a reduction",
            'q_technique_kinds = {"ExponentiatedGradient": "reduction", "GridSearch": "reduction",\n'
            '                     "ThresholdOptimizer": "reduction"}\n',
        ),
        (
            "kinds swapped",
            'q_technique_kinds = {"ExponentiatedGradient": "post-processing", "GridSearch": "post-processing",\n'
            '                     "ThresholdOptimizer": "reduction"}\n',
        ),
    ],
    "nb05_laplace": [
        (
            "mean sensitivity U - L, not divided by n",
            _LAPLACE.format(
                checks=_CHECKS,
                noise="rng.laplace(0.0, sensitivity / epsilon)",
                mean_body=_MEAN.replace("(upper - lower) / len(clipped)", "upper - lower"),
            ),
        ),
        (
            "noise from numpy's global generator, not the rng passed in",
            _LAPLACE.format(checks=_CHECKS, noise="np.random.laplace(0.0, sensitivity / epsilon)", mean_body=_MEAN),
        ),
        (
            "Gaussian noise instead of Laplace",
            _LAPLACE.format(
                checks=_CHECKS, noise="rng.normal(0.0, np.sqrt(2) * sensitivity / epsilon)", mean_body=_MEAN
            ),
        ),
        (
            "clips the mean instead of the values",
            _LAPLACE.format(
                checks=_CHECKS,
                noise="rng.laplace(0.0, sensitivity / epsilon)",
                mean_body="    values = np.asarray(values, dtype=float)\n"
                "    mean = float(np.clip(values.mean(), lower, upper))\n"
                "    return laplace_mechanism(mean, (upper - lower) / len(values), epsilon, rng)\n",
            ),
        ),
        (
            "no check of the arguments",
            _LAPLACE.format(checks="", noise="rng.laplace(0.0, sensitivity / epsilon)", mean_body=_MEAN),
        ),
    ],
    "nb05_q_epsilon": [
        ("less noise (wrong direction)", 'q_epsilon = "a"\n'),
        ("the noise stays the same (wrong option)", 'q_epsilon = "c"\n'),
    ],
    "nb05_rbac": [
        (
            "calls the dp100 helper the exercise forbids",
            "from dp100.rbac import RoleDefinition, operation_matches\n\n\n"
            "def matches(pattern, operation):\n    return operation_matches(pattern, operation)\n\n\n"
            "def has_access(roles, operation):\n"
            '    return any(RoleDefinition.from_dict({"Name": r.get("Name", "role"), **r}).allows(operation) for r in roles)\n',
        ),
        (
            "NotActions as a deny rule across every role",
            _RBAC.format(
                matches=_REGEX.format(fn="fullmatch", flags=", flags=re.IGNORECASE"),
                has_access='    granted = any(matches(p, operation) for r in roles for p in r.get("Actions", []))\n'
                '    denied = any(matches(p, operation) for r in roles for p in r.get("NotActions", []))\n'
                "    return granted and not denied\n",
            ),
        ),
        (
            "case-sensitive comparison",
            _RBAC.format(matches=_REGEX.format(fn="fullmatch", flags=""), has_access=_ANY_ROLE),
        ),
        (
            "a whole-segment * that must match one segment (workspaces/*/read misses workspaces/read)",
            _RBAC.format(
                matches='    regex = re.escape(pattern).replace(r"\\*", ".*")\n'
                "    return re.fullmatch(regex, operation, flags=re.IGNORECASE) is not None\n",
                has_access=_ANY_ROLE,
            ),
        ),
        (
            "re.match: a prefix of the operation is enough",
            _RBAC.format(matches=_REGEX.format(fn="match", flags=", flags=re.IGNORECASE"), has_access=_ANY_ROLE),
        ),
    ],
    "nb05_q_auth": [
        (
            "the VM uses the CLI session and the terminal a managed identity",
            'q_auth = {1: "service principal", 2: "interactive", 3: "cli", 4: "managed identity"}\n',
        ),
        (
            "keys as strings (wrong type)",
            'q_auth = {"1": "service principal", "2": "interactive", "3": "managed identity", "4": "cli"}\n',
        ),
    ],
    "nb05_q_identity": [
        (
            "a surviving identity called system-assigned",
            'q_identity = {1: "system", 2: "user", 3: "system", 4: "system"}\n',
        ),
        ("kinds swapped", 'q_identity = {1: "user", 2: "system", 3: "system", 4: "user"}\n'),
    ],
    "nb05_q_vnet": [
        (
            "address space and subnet swapped",
            'q_vnet = {1: "NSG", 2: "subnet", 3: "address space", 4: "NIC", 5: "load balancer"}\n',
        ),
        ("NIC and NSG swapped", 'q_vnet = {1: "NIC", 2: "address space", 3: "subnet", 4: "NSG", 5: "load balancer"}\n'),
    ],
    "nb05_q_private_link": [
        (
            "the customer's side called a Private Link service",
            'q_private_link = {1: "private endpoint", 2: "private link service", 3: "private link service",\n'
            '                  4: "private link service"}\n',
        ),
        (
            "halves swapped",
            'q_private_link = {1: "private link service", 2: "private endpoint", 3: "private link service",\n'
            '                  4: "private endpoint"}\n',
        ),
    ],
    "nb05_mlflow_project": [
        (
            "C not passed: the run uses the default 1.0",
            _PROJECT.format(env="python_env: python_env.yaml\n\n", command="python train.py --C {C}", params=""),
        ),
        (
            "the environment is not named in MLproject",
            _PROJECT.format(env="", command="python train.py --C {C}", params='parameters={"C": 0.5}, '),
        ),
        (
            "the command hard-codes the value instead of passing {C}",
            _PROJECT.format(
                env="python_env: python_env.yaml\n\n",
                command="python train.py --C 0.5",
                params='parameters={"C": 0.5}, ',
            ),
        ),
    ],
    "nb05_mlmodel_flavors": [
        (
            "not sorted: the file's order",
            _FLAVORS.format(body='list(yaml.safe_load(Path(mlmodel_path).read_text())["flavors"])'),
        ),
        ("hard-coded list", _FLAVORS.format(body='["python_function", "sklearn"]')),
        (
            "the top-level keys of MLmodel, not the flavors",
            _FLAVORS.format(body="sorted(yaml.safe_load(Path(mlmodel_path).read_text()))"),
        ),
    ],
    "nb05_q_mlflow": [
        (
            "the pyfunc flavor called registry",
            'q_mlflow = {1: "tracking", 2: "models", 3: "projects", 4: "registry", 5: "registry"}\n',
        ),
        (
            "models and projects swapped",
            'q_mlflow = {1: "tracking", 2: "projects", 3: "models", 4: "registry", 5: "projects"}\n',
        ),
    ],
    "nb05_q_databricks_steps": [
        ("the right order as a string (wrong type)", 'q_databricks_steps = "BCA"\n'),
        ("define before attach", 'q_databricks_steps = ["C", "B", "A"]\n'),
    ],
    "nb05_weight_averaging": [
        (
            "gradient SUMMED over the batch instead of averaged",
            _AVERAGING.format(step="lr * X[b].T @ (sigmoid(X[b] @ w) - y[b])", average=_AVG, run=_ON_CLUSTER),
        ),
        (
            "allreduce sums the weights",
            _AVERAGING.format(step=_MEAN_STEP, average="np.sum(np.stack(weights), axis=0)", run=_ON_CLUSTER),
        ),
        (
            "the epochs run in the notebook, not on the cluster",
            _AVERAGING.format(step=_MEAN_STEP, average=_AVG, run="[_worker(t) for t in tasks]"),
        ),
        (
            "the median instead of the mean",
            _AVERAGING.format(step=_MEAN_STEP, average="np.median(np.stack(weights), axis=0)", run=_ON_CLUSTER),
        ),
    ],
    "nb05_q_horovod_steps": [
        ("migrate before testing single-node code", 'q_horovod_steps = ["A", "C", "B"]\n'),
        ("the right order as a string (wrong type)", 'q_horovod_steps = "CAB"\n'),
    ],
}

# test cell grade id -> [(how it differs, the FULL source of its answer cell), ...]
RIGHT = {
    "nb05_disparity": [
        (
            "np.ptp and .loc",
            "def disparity(by_group):\n    return float(np.ptp(by_group.to_numpy()))\n\n\n"
            'recall_disparity = disparity(mf.by_group.loc[:, "recall"])\n'
            'selection_rate_disparity = disparity(mf.by_group.loc[:, "selection_rate"])\n',
        ),
    ],
    "nb05_laplace": [
        (
            "one combined check, keyword scale, np.minimum/np.maximum",
            "def laplace_mechanism(true_value, sensitivity, epsilon, rng):\n"
            "    if epsilon <= 0 or sensitivity <= 0:\n"
            '        raise ValueError("epsilon and sensitivity must both be positive")\n'
            "    scale = sensitivity / epsilon\n"
            "    return true_value + rng.laplace(loc=0.0, scale=scale)\n\n\n"
            "def dp_count(values, epsilon, rng):\n"
            "    return laplace_mechanism(float(len(values)), sensitivity=1, epsilon=epsilon, rng=rng)\n\n\n"
            "def dp_clipped_mean(values, lower, upper, epsilon, rng):\n"
            "    x = np.minimum(np.maximum(np.asarray(values, dtype=float), lower), upper)\n"
            "    return laplace_mechanism(x.sum() / x.size, (upper - lower) / x.size, epsilon, rng)\n",
        ),
    ],
    "nb05_rbac": [
        (
            "fnmatch plus the empty-segment rule, any() over the roles",
            "import fnmatch\n\n\n"
            "def matches(pattern, operation):\n"
            "    p, op = pattern.lower(), operation.lower()\n"
            "    if fnmatch.fnmatchcase(op, p):\n"
            "        return True\n"
            '    i = p.find("/*/")\n'
            "    while i != -1:   # a whole-segment * may also match no segment\n"
            '        if matches(p[:i] + "/" + p[i + 3:], op):\n'
            "            return True\n"
            '        i = p.find("/*/", i + 1)\n'
            "    return False\n\n\n"
            "def has_access(roles, operation):\n"
            '    return any(any(matches(a, operation) for a in r.get("Actions", []))\n'
            '               and not any(matches(n, operation) for n in r.get("NotActions", []))\n'
            "               for r in roles)\n",
        ),
    ],
    "nb05_mlmodel_flavors": [
        (
            "open() and .get",
            "import yaml\n\n\ndef read_flavors(mlmodel_path):\n"
            "    with open(mlmodel_path) as fh:\n"
            '        return sorted(yaml.safe_load(fh).get("flavors", {}).keys())\n\n\n'
            'model_flavors = read_flavors(model_dir / "MLmodel")\n',
        ),
    ],
    "nb05_weight_averaging": [
        (
            "submit/result, sum/len, explicit gradient",
            "def sgd_epoch(w, X, y, lr, seed, batch_size=32):\n"
            "    w = np.copy(w).astype(float)\n"
            "    perm = np.random.default_rng(seed).permutation(len(y))\n"
            "    for i in range(0, len(perm), batch_size):\n"
            "        idx = perm[i:i + batch_size]\n"
            "        grad = X[idx].T @ (sigmoid(X[idx] @ w) - y[idx])\n"
            "        w = w - lr * grad / idx.size\n"
            "    return w\n\n\n"
            "def allreduce_average(weights):\n    return sum(weights) / len(weights)\n\n\n"
            "def _worker(task):\n    w, X, y, lr, seed = task\n    return sgd_epoch(w, X, y, lr, seed), os.getpid()\n\n\n"
            "def train_data_parallel(shards, epochs, lr, cluster, seed=0):\n"
            "    w = np.zeros(shards[0][0].shape[1])\n"
            "    worker_pids = set()\n"
            "    with cluster:\n"
            "        for epoch in range(epochs):\n"
            "            tasks = [(w, X_k, y_k, lr, seed + 1000 * epoch + k) for k, (X_k, y_k) in enumerate(shards)]\n"
            "            futures = [cluster.submit(_worker, t) for t in tasks]\n"
            "            results = [f.result() for f in futures]\n"
            "            w = allreduce_average([r[0] for r in results])\n"
            "            worker_pids.update(r[1] for r in results)\n"
            "    return w, worker_pids\n\n\n"
            "w_parallel, pids = train_data_parallel(shards, epochs=20, lr=0.05, cluster=cluster)\n",
        ),
    ],
}
