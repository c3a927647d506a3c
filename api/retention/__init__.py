"""The cancellation save flow: the exit reason, the offers that fit, taking one."""
