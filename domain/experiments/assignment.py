"""Which variant a subject (the app's id for a visitor or customer) gets: a stable hash of
the experiment and the subject, cut by the variants' weights. The same pair always lands in
the same variant, on every host and across retries, with no state; the database keeps the
drawn variant anyway, so a later change of weights moves no one who signed up."""

from __future__ import annotations

import hashlib

from domain.experiments.model import Experiment

_SCALE = 2**64


def bucket(experiment_id: str, subject: str) -> float:
    """A point in [0, 1), uniform over subjects, independent between experiments."""
    digest = hashlib.sha256(f"{experiment_id}\x1f{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign(experiment: Experiment, subject: str) -> str:
    """The variant id for ``subject``: variant i owns a slice of [0, 1) as wide as its
    share of the total weight, in the config's order."""
    total = sum(v.weight for v in experiment.variants)
    point = bucket(experiment.id, subject) * total
    edge = 0
    for variant in experiment.variants:
        edge += variant.weight
        if point < edge:
            return variant.id
    return experiment.variants[-1].id
