"""Pure domain code: catalog, money, policy, lifecycle rules. No I/O, safe inside workflows."""
