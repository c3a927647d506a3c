"""Process-level plumbing: settings, configuration file, Temporal connection, the CLI."""
