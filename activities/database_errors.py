"""Database refusals that no retry can fix end an activity at once.

PostgreSQL refusing a value (a NUL in text or JSONB, a number out of a column's range, an
overlong string: SQLSTATE class 22, "data exception") refuses it the same way on every
attempt. Retried without limit, such an activity held the customer's workflow forever and
every later command waited behind it. Raised as a non-retryable ApplicationError instead,
the workflow sees the failure at once and records or reports it.

Wired into the worker with ``Worker(..., interceptors=[NonRetryableDataErrors()])``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from db.writes import is_refused_value

DATABASE_REFUSED_VALUE = "DatabaseRefusedValue"


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except DBAPIError as exc:
            if not is_refused_value(exc):
                raise
            raise ApplicationError(
                f"the database refused a value: {exc.orig}",
                type=DATABASE_REFUSED_VALUE,
                non_retryable=True,
            ) from exc


class NonRetryableDataErrors(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)
