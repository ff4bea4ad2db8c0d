"""`make bench`: load-test the local real-time endpoint of 04-deploy.

Starts Microsoft's inference server (azmlinfsrv) with the course's reference entry script and the
bike model behind the key gate (dp100.serving.deploy, AKS-style key auth), then 4 client processes
send 2,000 authenticated requests (500 each, 1-5 rows of JSON per request) and it prints p50 and p95
latency, throughput and the count of non-2xx answers, which must be 0 (exit status 1 otherwise).

    python tools/bench_endpoint.py [--requests N] [--clients C] [--workers W]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FEATURES = "season yr mnth hr holiday weekday workingday weathersit temp atemp hum windspeed".split()


def _client(args: tuple[str, str, list[str], int]) -> tuple[list[float], list[int]]:
    import requests

    uri, key, bodies, count = args
    latencies, statuses = [], []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with requests.Session() as session:
        for i in range(count):
            start = time.perf_counter()
            try:
                status = session.post(uri, data=bodies[i % len(bodies)], headers=headers, timeout=60).status_code
            except requests.RequestException:
                status = 0
            latencies.append(time.perf_counter() - start)
            statuses.append(status)
    return latencies, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="azmlinfsrv worker processes")
    args = parser.parse_args()

    import json

    import joblib
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    from dp100 import auth, serving
    from dp100.data import load_bike_sharing

    threadpool_limits(1)
    bikes = load_bike_sharing()
    model = HistGradientBoostingRegressor(max_iter=100, random_state=0).fit(bikes[FEATURES], bikes["cnt"])
    rng = np.random.default_rng(0)
    bodies = []
    for _ in range(200):
        rows = bikes[FEATURES].iloc[rng.integers(0, len(bikes), rng.integers(1, 6))]
        bodies.append(json.dumps({"data": rows.to_dict(orient="records")}))

    with tempfile.TemporaryDirectory(prefix="dp100-bench-endpoint-") as tmp:
        model_dir = Path(tmp) / "model"
        model_dir.mkdir()
        joblib.dump(model, model_dir / "model.pkl")
        script = serving.write_reference_entry_script(Path(tmp) / "score.py")
        start = time.perf_counter()
        with serving.deploy(
            "bench", script, model_dir, auth.AksWebservice.deploy_configuration(), worker_count=args.workers
        ) as service:
            ready = time.perf_counter() - start
            key = service.get_keys()[0]
            _client((service.scoring_uri, key, bodies, 20))  # warm-up, not counted
            per_client = -(-args.requests // args.clients)
            jobs = [(service.scoring_uri, key, bodies[i :: args.clients], per_client) for i in range(args.clients)]
            start = time.perf_counter()
            with multiprocessing.get_context("fork").Pool(args.clients) as pool:
                results = pool.map(_client, jobs)
            wall = time.perf_counter() - start
    latencies = np.array([x for lat, _ in results for x in lat]) * 1000
    statuses = [s for _, st in results for s in st]
    bad = sum(1 for s in statuses if not 200 <= s < 300)
    print(f"endpoint: azmlinfsrv ({args.workers} workers) behind the key gate, ready in {ready:.1f} s")
    print(f"requests: {len(statuses)} from {args.clients} concurrent clients in {wall:.1f} s")
    print(f"latency:  p50 {np.percentile(latencies, 50):.1f} ms   p95 {np.percentile(latencies, 95):.1f} ms")
    print(f"throughput: {len(statuses) / wall:.0f} requests/s")
    print(f"non-2xx answers: {bad}" + ("" if bad == 0 else "   <- must be 0"))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
