"""Pricing experiments over HTTP (scope ``admin``): results, stop, rollout, migrating a
customer to today's terms."""
