"""The dashboard's competitive pricing section as HTML (the browser test sees it rendered):
competitor names are escaped, add-ons show where they make a plan fit, and a config
without competitors says how to add them."""

from __future__ import annotations

from pathlib import Path

from api.dashboard.page import competitive_section
from api.reports.service import competitive_view
from core.config import load_config
from domain.lifecycle import BillingInterval
from tests.factories.competitors import RIVAL, config_with_competitors


def test_names_are_escaped_and_addons_listed(tmp_path: Path) -> None:
    config = load_config(
        config_with_competitors(tmp_path, RIVAL.replace('"Rival Bots"', '"<b>Rival</b>"'))
    )
    view = competitive_view(
        config, usage={"chatbots": 4, "messages": 8000}, interval=BillingInterval.MONTH
    )
    html = competitive_section(view)
    assert "<b>Rival</b>" not in html and "&lt;b&gt;Rival&lt;/b&gt;" in html
    assert '<table id="competitive-requested">' in html
    assert "<th>Add-ons included</th>" in html
    # Starter with a chatbot and a pack: 4,400, against Team's 6,500.
    assert (
        '<tr class="best"><td>Starter</td><td>$44.00</td><td>-$21.00 (-32.3%)</td>'
        '<td class="wrap">1 x Extra chatbot, 1 x Message pack' in html
    )


def test_without_competitors_our_prices_and_a_hint(tmp_path: Path) -> None:
    config = load_config(config_with_competitors(tmp_path, ""))
    html = competitive_section(competitive_view(config, usage={}, interval=BillingInterval.MONTH))
    assert "<td>ChatbotCloud</td><td>Starter</td><td>$29.00</td><td>$9.67</td>" in html
    assert "add <code>[competitors.&lt;id&gt;]</code> sections" in html
    assert "competitive-small" not in html
