"""``lifecycle demo``: a seeded history for dashboards and demos, made by the real engine."""

from devtools.demo.seeder import SeedReport, seed

__all__ = ["SeedReport", "seed"]
