"""The terms a customer runs on: the lifecycle policy and the catalog, as one document.

A customer keeps the terms it signed up under until it changes plan; the workflow carries
only their version (a digest of the document), and the document is stored once per
version, never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.catalog import Catalog
from domain.policy import Policy


@dataclass(frozen=True)
class Terms:
    policy: Policy
    catalog: Catalog
