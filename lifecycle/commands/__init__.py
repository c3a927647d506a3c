"""The `lifecycle` commands, one module per group; `lifecycle.cli` assembles them."""
