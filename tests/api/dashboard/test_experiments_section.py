"""The dashboard's pricing experiments section: a table per experiment with each variant's
metrics, intervals and p-values; drafts named; nothing run yet says how to start."""

from __future__ import annotations

from pathlib import Path

from api.dashboard.experiments import render
from api.experiments import service
from core.clock import utcnow
from core.config import load_config
from db.engine import SessionFactory
from tests.factories.experiments import config_with, experiment_section, new_experiment_id


async def test_results_render_as_a_table_per_experiment(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    experiment_id = new_experiment_id()
    config = load_config(config_with(tmp_path, experiment_section(experiment_id)))
    results = await service.results(config, sessions, experiment_id, utcnow())
    html = render([results], drafts=["later<b>"], currency="usd")
    assert f'data-experiment="{experiment_id}"' in html
    assert html.count("<tr data-variant=") == 2
    assert "pro at 119.00/month" in html and "(control)" in html
    assert "n=0" in html and "Churn 90d" in html
    assert "later&lt;b&gt;" in html


def test_nothing_run_yet_says_how_to_start() -> None:
    html = render([], drafts=[], currency="usd")
    assert 'id="experiments"' in html and "[experiments.&lt;id&gt;]" in html
