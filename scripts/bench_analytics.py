"""The daily analytics run at scale: `make bench-analytics`.

Generated histories (``devtools.analytics_history``: a year of weekly ledger rows and usage
per customer) for 10,000 customers by default, then, in one process and one run:

- the engine's run (``activities.analytics``'s pure part): weekly snapshots and features
  (of a fixed sample beyond ``MAX_TRAINING_CUSTOMERS``), the churn model's training and
  held-out evaluation, every paying customer scored, each
  customer's usage pattern, and the customers grouped by usage shape;
- the floor: the libraries' own work on arrays of the same shapes (the logistic regression
  fitted on the training matrix and scoring every snapshot, k-means for k = 2..6 and their
  silhouette scores on the customers' shape vectors), with none of the engine's Python
  around it;
- the ratio of the floor to the engine's run per part and in all, and peak memory.

The database's part (reading the rows, writing the scores) is not in it: the run reads
each customer's rows once (one query for the ledger, one for usage) and writes one row per
customer.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import silhouette_score

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from core.config import load_config  # noqa: E402
from devtools.analytics_history import START, daily_messages, generated_histories  # noqa: E402
from domain.analytics.churn import (  # noqa: E402
    FEATURE_NAMES,
    PAYING,
    score,
    snapshots,
    train,
    training_sample,
)
from domain.analytics.features import features_at, state_at  # noqa: E402
from domain.analytics.usage_patterns import (  # noqa: E402
    SILHOUETTE_SAMPLE,
    group_customers,
    pattern_of,
    shape,
)

T = TypeVar("T")


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=52)
    args = parser.parse_args()
    catalog = load_config(REPO_ROOT / "lifecycle.toml").catalog
    as_of = START + timedelta(weeks=args.weeks)
    histories = generated_histories(args.customers, args.weeks, start=START)
    daily = {h.customer_id: daily_messages(h) for h in histories}

    # The engine's run, part by part (as activities.analytics runs it).
    model, train_s = timed(lambda: train(histories, catalog, now=as_of, version="bench"))
    assert model.method == "logistic_regression", model.note
    scores, score_s = timed(
        lambda: [
            score(model, features_at(h, as_of, catalog))
            for h in histories
            if state_at(h, as_of).status in PAYING
        ]
    )
    today = as_of.date()
    patterns, pattern_s = timed(lambda: {c: pattern_of(d, today) for c, d in daily.items()})
    grouping, group_s = timed(lambda: group_customers(patterns))
    ours = train_s + score_s + pattern_s + group_s

    # The floor: the same library calls on arrays of the same shapes.
    taken = snapshots(training_sample(histories), catalog, until=as_of)
    rng = np.random.default_rng(7)
    training = int(model.metrics["training"]["snapshots"])
    x = rng.normal(size=(training, len(FEATURE_NAMES)))
    y = rng.random(training) < 0.05
    every = rng.normal(size=(len(taken) + len(scores), len(FEATURE_NAMES)))

    def fit_and_score() -> None:
        regression = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
        regression.predict_proba(every)

    vectors = np.array([v for p in patterns.values() if (v := shape(p)) is not None])

    def cluster() -> None:
        for k in range(2, 7):
            labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(vectors)
            silhouette_score(
                vectors, labels, sample_size=min(len(vectors), SILHOUETTE_SAMPLE), random_state=0
            )

    _, floor_model_s = timed(fit_and_score)
    _, floor_group_s = timed(cluster)
    floor = floor_model_s + floor_group_s
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows = [
        ("model: snapshots, training, evaluation", train_s, floor_model_s),
        ("scoring paying customers", score_s, None),
        ("usage patterns", pattern_s, None),
        ("grouping by usage shape", group_s, floor_group_s),
        ("the whole run", ours, floor),
    ]
    print(
        f"bench-analytics: {args.customers:,} customers, {args.weeks} weeks; "
        f"the model learns from {model.metrics['training']['customers']:,} of them "
        f"({training:,} training snapshots, {len(taken):,} in all); {len(scores):,} scored; "
        f"{len(vectors):,} grouped into {len(grouping.groups)}"
    )
    print(f"Python {platform.python_version()}; one process; peak memory {peak_mib:,.0f} MiB")
    print(f"{'part':<42}{'engine s':>10}{'floor s':>10}{'floor/engine':>14}")
    for name, engine_s, floor_s in rows:
        ratio = "" if floor_s is None else f"{floor_s / engine_s:.2f}"
        floor_text = "" if floor_s is None else f"{floor_s:.2f}"
        print(f"{name:<42}{engine_s:>10.2f}{floor_text:>10}{ratio:>14}")


if __name__ == "__main__":
    main()
