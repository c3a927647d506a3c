"""The `lifecycle` command line: dev, api, worker, migrate and operator helpers."""

from __future__ import annotations

import typer

from lifecycle.commands import (
    analytics,
    audit,
    campaigns,
    config_versions,
    demo,
    experiments,
    freeze,
    fx,
    keys,
    report,
    report_reconciliation,
    report_save_flow,
    security,
    serve,
    stripe,
)

app = typer.Typer(
    help="Subscription lifecycle engine.", no_args_is_help=True, pretty_exceptions_enable=False
)
for command in (serve.dev, serve.api, serve.worker, serve.migrate):
    app.command()(command)
app.add_typer(serve.temporal_app, name="temporal")
app.add_typer(stripe.stripe_app, name="stripe")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(fx.fx_app, name="fx")
app.add_typer(freeze.freeze_app, name="freeze")
app.add_typer(security.security_app, name="security")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(config_versions.config_app, name="config")
report.report_app.command("save-flow")(report_save_flow.report_save_flow)
report.report_app.command("reconciliation")(report_reconciliation.report_reconciliation)
app.add_typer(report.report_app, name="report")
app.add_typer(demo.demo_app, name="demo")
app.add_typer(analytics.analytics_app, name="analytics")
app.add_typer(experiments.experiments_app, name="experiments")
app.add_typer(campaigns.segments_app, name="segments")
app.add_typer(campaigns.campaigns_app, name="campaigns")
