"""Exchange rates and the report across currencies (issue 15 part 5)."""
