"""Hands the current configuration's policy and catalog to a workflow at continue-as-new."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from temporalio import activity

from domain.catalog import Catalog
from domain.policy import Policy


@dataclass(frozen=True)
class Terms:
    policy: Policy
    catalog: Catalog


class PolicyActivities:
    def __init__(self, load_terms: Callable[[], Terms]) -> None:
        self._load_terms = load_terms

    @activity.defn(name="current_terms")
    async def current_terms(self) -> Terms:
        return self._load_terms()
