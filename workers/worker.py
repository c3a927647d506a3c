"""Worker entry point: every workflow and activity of the engine on one task queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker, WorkflowRunner

from activities.analytics import AnalyticsActivities
from activities.anchors import AnchorActivities, AnchorTarget, anchor_target
from activities.billing import BillingActivities
from activities.campaigns import CampaignActivities
from activities.customers import CustomerActivities
from activities.database_errors import NonRetryableDataErrors
from activities.emails import EmailActivities
from activities.money_freeze import freeze_guarded
from activities.notifications import NotificationActivities
from activities.policy import PolicyActivities, Terms
from activities.privacy import PrivacyActivities
from activities.reconciliation import ReconciliationActivities, publish_latest_run
from adapters.email.base import EmailSender
from adapters.payments.base import PaymentGateway
from core.config import load_config
from core.settings import Settings
from core.temporal import connect_with, warm_type_adapters
from core.tracing import configure_tracing
from db.engine import SessionFactory, create_engine, session_factory
from domain.retention import SaveFlow
from services.campaigns import offer_sender
from services.churn_signals import risk_teller
from services.config_versions import record_loaded_config
from services.email_dispatch import EmailDispatcher
from services.usage_notices import UsageNotices
from services.wiring import email_sender, payment_gateway
from workers.tuning import PRODUCTION_RUNNER, WorkerTuning, tuning_from
from workflows.analytics import ChurnModelWorkflow
from workflows.anchor import LedgerAnchorWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.customer import CustomerWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.retention import RetentionWorkflow

logger = logging.getLogger("lifecycle.worker")


def build_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: SessionFactory,
    sender: EmailSender,
    gateway: PaymentGateway,
    product_name: str,
    app_url: str,
    load_terms: Callable[[], Awaitable[Terms]],
    tuning: WorkerTuning | None = None,
    workflow_runner: WorkflowRunner = PRODUCTION_RUNNER,
    save_flow: SaveFlow | None = None,
    config_version: str | None = None,
    anchors: AnchorTarget | None = None,
) -> Worker:
    """``config_version``: the hash of the config this process loaded (change management),
    written on each customer row the worker syncs."""
    customers = CustomerActivities(sessions, config_version=config_version)
    emails = EmailActivities(sessions, sender, product_name=product_name, app_url=app_url)
    # Money-moving calls wait while money movements are frozen (`lifecycle freeze on`).
    billing = BillingActivities(sessions, freeze_guarded(gateway, sessions))
    privacy = PrivacyActivities(sessions, load_terms=load_terms)
    notifications = NotificationActivities(sessions, app_url=app_url)
    policy = PolicyActivities(load_terms, sessions)
    analytics = AnalyticsActivities(load_terms, sessions, tell=risk_teller(client, save_flow))
    campaigns = CampaignActivities(sessions, send=offer_sender(client))
    reconciliation = ReconciliationActivities(sessions, gateway)
    anchoring = AnchorActivities(sessions, anchors)
    tuning = tuning or WorkerTuning()
    # What workflows decode from the policy activities (see ``warm_type_adapters``).
    warm_type_adapters(Terms)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[
            CustomerWorkflow,
            RetentionWorkflow,
            ChurnModelWorkflow,
            CampaignWorkflow,
            ReconciliationWorkflow,
            LedgerAnchorWorkflow,
        ],
        activities=[
            customers.apply_transition,
            emails.send_email,
            billing.ensure_provider_customer,
            billing.erase_provider_customer,
            billing.attach_payment_method,
            billing.sync_payment_method,
            billing.purchase_addon,
            billing.create_subscription,
            billing.change_price,
            billing.schedule_price_change,
            billing.subscription_command,
            billing.fetch_subscription,
            billing.fetch_invoice,
            billing.invoice_command,
            notifications.notify,
            privacy.erase_personal_data,
            privacy.purge_expired_data,
            policy.current_terms,
            policy.terms,
            analytics.train_churn_model,
            campaigns.choose_audience,
            campaigns.send_batch,
            campaigns.finish,
            reconciliation.reconcile,
            anchoring.write_ledger_anchor,
        ],
        workflow_runner=workflow_runner,
        # A value the database refuses is refused on every retry: fail the activity at once.
        interceptors=[NonRetryableDataErrors()],
        max_cached_workflows=tuning.max_cached_workflows,
        max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
        max_concurrent_activities=tuning.max_concurrent_activities,
        max_concurrent_local_activities=tuning.max_concurrent_local_activities,
        graceful_shutdown_timeout=tuning.graceful_shutdown,
    )


def terms_loader(settings: Settings) -> Callable[[], Awaitable[Terms]]:
    """Re-reads the config file each time (off the event loop): today's terms, for the
    retention purge."""

    async def load() -> Terms:
        config = await asyncio.to_thread(load_config, settings.lifecycle_config)
        return Terms(policy=config.policy, catalog=config.catalog)

    return load


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)


def serve_metrics(settings: Settings) -> WSGIServer | None:
    """The engine's counters (``core.metrics``: emails, charges) and the process's on
    ``LIFECYCLE_WORKER_METRICS_ADDRESS`` (a thread of prometheus_client), when set."""
    if not settings.lifecycle_worker_metrics_address:
        return None
    host, port = _host_port(settings.lifecycle_worker_metrics_address)
    server, _ = start_http_server(port, addr=host)
    logger.info("worker metrics on http://%s:%d/metrics", host, port)
    return server


def temporal_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting the SDK's own metrics (task slots, polls, schedule-to-
    start and execution latencies, sticky cache) to Prometheus on
    ``LIFECYCLE_TEMPORAL_METRICS_ADDRESS``; None (the SDK's default runtime) when unset.
    Counters end in ``_total``, durations are in seconds and say so (``_seconds``), as
    Prometheus expects."""
    if not settings.lifecycle_temporal_metrics_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=settings.lifecycle_temporal_metrics_address,
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
            )
        )
    )


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or forever); shuts down gracefully, finishing in-flight
    tasks. Besides workflows and activities, the worker relays usage notices the API could
    not deliver (``services.usage_notices``) and sends the email outbox through a provider
    (``services.email_dispatch``)."""
    config = settings.engine_config
    configure_tracing(settings.lifecycle_tracing, "lifecycle-worker")
    metrics = serve_metrics(settings)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    client = await connect_with(settings, runtime=temporal_runtime(settings))
    sender = email_sender(settings)
    version = await record_loaded_config(
        sessions, settings.lifecycle_config, deployed_by=settings.lifecycle_deployed_by
    )
    await publish_latest_run(sessions)
    worker = build_worker(
        client,
        task_queue=settings.temporal_task_queue,
        sessions=sessions,
        sender=sender,
        gateway=payment_gateway(settings, sessions),
        product_name=config.product_name,
        app_url=config.app_url,
        load_terms=terms_loader(settings),
        tuning=tuning_from(settings),
        save_flow=config.save_flow,
        config_version=version,
        anchors=anchor_target(settings),
    )
    stop = stop or asyncio.Event()
    notices = UsageNotices(sessions, config.catalog, client)
    # SendGrid and other providers outside the engine: the outbox is sent by a dispatcher
    # on connections of its own, so a send's commit never queues behind activities.
    dispatch_engine = (
        None if sender.delivered_by_outbox else create_engine(settings.database_url, pool_size=8)
    )
    logger.info("worker polling task queue %r", settings.temporal_task_queue)
    try:
        async with worker:
            loops = [asyncio.create_task(notices.relay(stop))]
            if dispatch_engine is not None:
                dispatcher = EmailDispatcher(
                    session_factory(dispatch_engine),
                    sender,
                    hold=timedelta(seconds=settings.lifecycle_email_hold_seconds),
                    stale_after=timedelta(seconds=settings.lifecycle_email_stale_seconds),
                )
                loops.append(asyncio.create_task(dispatcher.run(stop)))
            try:
                await stop.wait()
            finally:
                stop.set()
                await asyncio.gather(*loops)
    finally:
        await engine.dispose()
        if dispatch_engine is not None:
            await dispatch_engine.dispose()
        if metrics is not None:
            metrics.shutdown()
