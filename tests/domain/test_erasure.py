"""How an erased customer is recognised."""

from __future__ import annotations

from domain.erasure import erased_external_id, is_erased


def test_an_erased_customer_keeps_a_marker_naming_its_own_id() -> None:
    assert erased_external_id("c-1") == "erased:c-1"
    assert is_erased("c-1", erased_external_id("c-1"))


def test_only_the_marker_for_the_same_customer_counts() -> None:
    assert not is_erased("c-1", "crm-42")
    assert not is_erased("c-1", erased_external_id("c-2"))
    assert not is_erased("c-1", "erased:")
