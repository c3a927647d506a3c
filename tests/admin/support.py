"""Helpers of the admin tests: the `lifecycle` CLI as a subprocess, a search of every
table for a string, a workflow history as text, RFC 9457 problem checks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx
from google.protobuf.message import Message
from sqlalchemy import text
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHandle

from core.settings import REPO_ROOT
from db.engine import SessionFactory

PROBLEM = "application/problem+json"
Json = dict[str, Any]


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


async def lifecycle_cli(database_url: str, *args: str, timeout: float = 90.0) -> CliResult:
    """``python -m lifecycle <args>`` as its own process, against ``database_url``."""
    env = {**os.environ, "DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lifecycle",
        *args,
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return CliResult(process.returncode, out.decode(), err.decode())


async def public_tables(sessions: SessionFactory) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
                "ORDER BY table_name"
            )
        )
        return [str(name) for (name,) in rows.all()]


async def tables_containing(sessions: SessionFactory, needle: str) -> dict[str, int]:
    """Every table of the public schema whose rows, cast to text, contain ``needle``
    (case-insensitive), with how many rows do."""
    found: dict[str, int] = {}
    tables = await public_tables(sessions)
    assert tables, "no tables found: the search would prove nothing"
    async with sessions() as session:
        for table in tables:
            count = await session.scalar(
                text(
                    f'SELECT count(*) FROM "{table}" AS t '
                    "WHERE strpos(lower(t::text), lower(:needle)) > 0"
                ),
                {"needle": needle},
            )
            if count:
                found[table] = int(count)
    return found


def _payload_texts(message: Message, into: list[str]) -> None:
    if isinstance(message, Payload):
        into.append(message.data.decode("utf-8", errors="replace"))
        for value in message.metadata.values():
            into.append(value.decode("utf-8", errors="replace"))
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for item in value.values():
                if isinstance(item, Message):
                    _payload_texts(item, into)
        elif isinstance(value, Message):
            _payload_texts(value, into)
        else:  # a repeated message field
            for item in value:
                _payload_texts(item, into)


async def history_text(handle: WorkflowHandle[Any, Any]) -> str:
    """The workflow's whole history as searchable text: its JSON (payload bytes are base64
    there) plus every payload decoded (inputs, results, signals, updates, search
    attributes, failures)."""
    history = await handle.fetch_history()
    decoded: list[str] = []
    for event in history.events:
        _payload_texts(event, decoded)
    return history.to_json() + "\n" + "\n".join(decoded)


def b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def assert_problem(response: httpx.Response, status: int, problem_type: str | None = None) -> Json:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: Json = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    if problem_type is not None:
        assert body["type"].endswith("/" + problem_type), body
    return body


def fields(problem: Json) -> list[str]:
    return [e["field"] for e in problem.get("errors", [])]


def ok(response: httpx.Response, status: int = 200) -> Json:
    assert response.status_code == status, response.text
    body: Json = response.json()
    return body


def stripe_signature(payload: bytes, secret: str) -> str:
    """A ``Stripe-Signature`` header as Stripe computes it."""
    timestamp = int(time.time())
    digest = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


async def deliver_webhook(http: httpx.AsyncClient, event: Json, secret: str) -> httpx.Response:
    payload = json.dumps(event, separators=(",", ":")).encode()
    return await http.post(
        "/v1/webhooks/stripe",
        content=payload,
        headers={
            "content-type": "application/json",
            "Stripe-Signature": stripe_signature(payload, secret),
        },
    )
