"""The server's access log: uvicorn's lines, made and written by the API process.

Uvicorn logs each request through ``logging`` on the event loop: it walks the caller's
frames, builds a record, and its formatter copies the record before formatting it. On this
machine's 2 cores that was ~0.11 ms of the ~0.55 ms of API CPU a check-and-consume call
costs (a fifth of it, measured from /proc with the log on and off), and still so with the
formatting and writing moved to a thread (a hand-off per request, and the thread's time
is the same process's). While the app serves, uvicorn's access logger has no handlers (so
uvicorn skips it, as with ``--no-access-log``) and ``AccessLog``, the outermost layer,
makes the same line itself: the formatter's output is rendered once per status code with
markers where the client, method, path and HTTP version go, so a request costs one string
join; lines gather and are written with one system call every ``FLUSH_SECONDS``.

The text and destination are uvicorn's (or the operator's log config's): any handler that
is a plain stream handler, with a formatter that prints nothing of the moment (no
``asctime``, ``created``, ``msecs``...). Other handlers (files with rotation, JSON, a
timestamped format) get real records, formatted and written by a listener thread. Under
tests no handler is set and nothing is logged.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
from collections.abc import Iterator
from contextlib import contextmanager
from logging.handlers import QueueHandler, QueueListener
from typing import TextIO

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from api.asgi import run_observed

ACCESS_LOGGER = "uvicorn.access"
# Uvicorn's message and arguments: client, method, path with query, HTTP version, status.
ACCESS_MESSAGE = '%s - "%s %s HTTP/%s" %d'
FLUSH_SECONDS = 0.1
# More lines than this are written at once, without waiting for the timer.
MAX_PENDING = 1000
# A format naming any of these prints the moment of the request: it needs real records.
_MOMENT = re.compile(r"asctime|created|msecs|relativeCreated")
# Markers for what varies per request, in a rendered line (no access line contains them).
_FIELDS = ("\x00client\x00", "\x00method\x00", "\x00path\x00", "\x00version\x00")


class _Lines:
    """Uvicorn's access lines rendered from per-status templates, written in batches to
    the streams of the handlers they replace."""

    def __init__(self, handlers: list[logging.StreamHandler[TextIO]]) -> None:
        self._handlers = handlers
        self._templates: dict[int, list[tuple[str, ...]]] = {}
        self._pending: list[list[str]] = [[] for _ in handlers]
        self._timer: asyncio.TimerHandle | None = None

    def add(self, scope: Scope, status: int) -> None:
        templates = self._templates.get(status)
        if templates is None:
            templates = self._templates[status] = [
                self._template(handler, status) for handler in self._handlers
            ]
        client = get_client_addr(scope)  # type: ignore[arg-type]
        method: str = scope["method"]
        path = get_path_with_query_string(scope)  # type: ignore[arg-type]
        version: str = scope["http_version"]
        for template, pending in zip(templates, self._pending, strict=True):
            head, after_client, after_method, after_path, tail = template
            pending.append(
                f"{head}{client}{after_client}{method}{after_method}{path}{after_path}"
                f"{version}{tail}"
            )
        if len(self._pending[0]) >= MAX_PENDING:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def _template(self, handler: logging.StreamHandler[TextIO], status: int) -> tuple[str, ...]:
        # What a line is made of around the varying fields, in the order uvicorn's message
        # has them (a custom format may print the message's parts through its own fields,
        # in any order: such a format gets real records, see `_renders_in_order`).
        rendered = _marked_line(handler, status) + handler.terminator
        parts: list[str] = []
        for marker in _FIELDS:
            before, _, rendered = rendered.partition(marker)
            parts.append(before)
        parts.append(rendered)
        return tuple(parts)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for handler, pending in zip(self._handlers, self._pending, strict=True):
            if not pending:
                continue
            text = "".join(pending)
            pending.clear()
            handler.acquire()
            try:
                handler.stream.write(text)
                handler.flush()
            except Exception:
                # As logging does: a broken log stream is reported, it fails no request.
                handler.handleError(logging.makeLogRecord({"msg": "access log write failed"}))
            finally:
                handler.release()


def _marked_line(handler: logging.Handler, status: int) -> str:
    """The handler's line for a request with ``status``, markers in its varying fields."""
    record = logging.LogRecord(
        ACCESS_LOGGER, logging.INFO, __file__, 0, ACCESS_MESSAGE, (*_FIELDS, status), None
    )
    return handler.format(record)


def _renders_in_order(handler: logging.Handler) -> bool:
    """Whether the handler's lines can be rendered from a template: a plain stream handler
    whose formatter prints nothing of the moment and puts each field once, in order."""
    if type(handler) is not logging.StreamHandler or handler.filters:
        return False
    if handler.level > logging.INFO:
        return False
    formatter = handler.formatter or logging.Formatter()
    style = getattr(formatter, "_style", None)
    if style is None or _MOMENT.search(style._fmt):
        return False
    rendered = _marked_line(handler, 200)
    positions = [rendered.find(marker) for marker in _FIELDS]
    counts = [rendered.count(marker) for marker in _FIELDS]
    return counts == [1, 1, 1, 1] and positions == sorted(positions)


class AccessLines:
    """Where the access log goes while the app serves (``serving``): nowhere (no handlers,
    as under tests or ``--no-access-log``), lines the API process renders (``AccessLog``),
    or, for handlers that need real records, uvicorn's records off the event loop."""

    def __init__(self) -> None:
        self.lines: _Lines | None = None

    @contextmanager
    def serving(self, name: str = ACCESS_LOGGER) -> Iterator[None]:
        logger = logging.getLogger(name)
        handlers = list(logger.handlers)
        if not handlers or not logger.isEnabledFor(logging.INFO):
            yield
            return
        if all(_renders_in_order(handler) for handler in handlers):
            self.lines = _Lines(handlers)  # type: ignore[arg-type]
            logger.handlers = []
            try:
                yield
            finally:
                self.lines.flush()
                self.lines = None
                logger.handlers = handlers
            return
        with _records_off_the_loop(logger, handlers):
            yield


class AccessLog:
    """ASGI middleware, the outermost layer: one access line per HTTP request, with the
    status the app answered (500 when it raised before answering, as uvicorn logs)."""

    def __init__(self, app: ASGIApp, lines: AccessLines) -> None:
        self.app = app
        self._lines = lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lines = self._lines.lines
        if lines is None or scope["type"] != "http":
            return await self.app(scope, receive, send)
        await run_observed(self.app, scope, receive, send, lambda status: lines.add(scope, status))


class _RecordQueueHandler(QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Unformatted: uvicorn's access formatter reads the record's arguments (client,
        # method, path, status: immutable values, safe to format later in the thread).
        return record


@contextmanager
def _records_off_the_loop(
    logger: logging.Logger, handlers: list[logging.Handler]
) -> Iterator[None]:
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = QueueListener(records, *handlers, respect_handler_level=True)
    logger.handlers = [_RecordQueueHandler(records)]
    listener.start()
    try:
        yield
    finally:
        # Writes what is queued, then the server's handlers take over again.
        listener.stop()
        logger.handlers = handlers
