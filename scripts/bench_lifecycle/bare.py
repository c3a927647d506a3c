"""The bare baseline: a workflow of the same shape as the engine's sign-up (write a row, then
send through an outbox), with nothing else. Kept free of I/O imports for the sandbox."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

BARE_WORKFLOW = "BenchBareSignup"
INSERT_ROW = "bench_insert_row"
SEND_THROUGH_OUTBOX = "bench_send_through_outbox"


@workflow.defn(name=BARE_WORKFLOW)
class BareSignup:
    @workflow.run
    async def run(self, key: str) -> None:
        await workflow.execute_activity(
            INSERT_ROW, key, start_to_close_timeout=timedelta(seconds=15)
        )
        await workflow.execute_activity(
            SEND_THROUGH_OUTBOX, key, start_to_close_timeout=timedelta(seconds=30)
        )
