"""SendGrid delivery through the sendgrid SDK (v3 mail send)."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import BatchId, Category, CustomArg, From, Mail, SendAt, To

from adapters.email.base import EmailDeliveryError, OutgoingEmail, Schedule

_SENDGRID_HOST = "https://api.sendgrid.com"
# Seconds per connect/read. The SDK has no default (urllib would wait forever), and a hung
# call outlives the activity's 60 s start-to-close: its thread stays blocked and it may
# still deliver after Temporal has started a retry. Keep this well under that timeout.
_TIMEOUT_SECONDS = 20.0


class SendGridEmailSender:
    name = "sendgrid"
    delivered_by_outbox = False
    # SendGrid honours a cancellation until 10 minutes before the batch's ``send_at``.
    cancel_deadline = timedelta(minutes=10)

    def __init__(
        self,
        *,
        api_key: str,
        from_email: str,
        host: str | None = None,
        timeout: float = _TIMEOUT_SECONDS,
    ) -> None:
        self._client = SendGridAPIClient(api_key=api_key, host=host or _SENDGRID_HOST)
        self._from_email = from_email
        self._timeout = timeout

    def build_mail(self, email: OutgoingEmail, schedule: Schedule | None = None) -> Mail:
        mail = Mail(
            from_email=From(self._from_email),
            to_emails=To(email.to_email, email.to_name),
            subject=email.subject,
            plain_text_content=email.body,
        )
        # Categories group sends per template in SendGrid's stats; custom args travel to
        # event webhooks so a delivery report can be matched to the customer and send.
        mail.category = Category(email.template)
        mail.custom_arg = [
            CustomArg("customer_id", email.customer_id),
            CustomArg("idempotency_key", email.idempotency_key),
        ]
        if schedule is not None:
            mail.batch_id = BatchId(schedule.batch_id)
            mail.send_at = SendAt(int(schedule.send_at.timestamp()))
        return mail

    async def create_batch(self) -> str:
        response = await asyncio.to_thread(
            self._call, "create a batch", lambda c: c.mail.batch.post()
        )
        body = json.loads(response.body or b"{}")
        return str(body["batch_id"])

    async def cancel_batch(self, batch_id: str) -> None:
        await asyncio.to_thread(
            self._call,
            "cancel a batch",
            lambda c: c.user.scheduled_sends.post(
                request_body={"batch_id": batch_id, "status": "cancel"}, timeout=self._timeout
            ),
        )

    async def send(self, email: OutgoingEmail, schedule: Schedule | None = None) -> str | None:
        payload = self.build_mail(email, schedule).get()
        # The SDK is synchronous (urllib); keep the worker's event loop free.
        response = await asyncio.to_thread(self._post, payload)
        headers = getattr(response, "headers", None) or {}
        message_id = headers.get("X-Message-Id") if hasattr(headers, "get") else None
        return str(message_id) if message_id else None

    def _post(self, payload: dict[str, Any]) -> Any:
        return self._call(
            "send",
            lambda c: c.mail.send.post(request_body=payload, timeout=self._timeout),
        )

    def _call(self, operation: str, request: Callable[[Any], Any]) -> Any:
        try:
            return request(self._client.client)
        except HTTPError as exc:
            status = getattr(exc, "status_code", None)
            body = getattr(exc, "body", b"")
            detail = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
            # 429 and 5xx are SendGrid's way of saying "later"; other 4xx will not improve.
            retryable = status is None or status == 429 or status >= 500
            raise EmailDeliveryError(
                f"SendGrid answered {status} to {operation}: {detail[:500]}",
                retryable=retryable,
                status_code=status,
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            # Refused, reset, timed out, or a malformed/truncated answer (HTTPException is
            # not an OSError): all transient from here.
            raise EmailDeliveryError(f"SendGrid unreachable: {exc!r}", retryable=True) from None
