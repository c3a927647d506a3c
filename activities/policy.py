"""Hands the current configuration's policy to a workflow at continue-as-new."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from domain.policy import Policy


class PolicyActivities:
    def __init__(self, load_policy: Callable[[], Policy]) -> None:
        self._load_policy = load_policy

    @activity.defn(name="current_policy")
    async def current_policy(self) -> Policy:
        return self._load_policy()
