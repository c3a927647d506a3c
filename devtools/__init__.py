"""Tools for development and demonstration, not for production paths: the demo seeder
(a year of customer history on a time-skipping server)."""
