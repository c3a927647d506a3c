"""Shared, impure helpers every layer may import (never domain or workflows)."""
