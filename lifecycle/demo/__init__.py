"""``lifecycle demo``: a seeded history for dashboards and demos, made by the real engine."""

from lifecycle.demo.seeder import SeedReport, seed

__all__ = ["SeedReport", "seed"]
