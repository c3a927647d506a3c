"""The server's access log, written by a thread instead of the event loop.

Uvicorn formats each access line and writes it (a system call) on the event loop, inside
the response's send: about 0.2 ms of every request on this machine's 2 cores, a third of
what the usage hot path spends besides its statement. Here the loop only hands the record
to a queue; a listener thread formats and writes it with the handlers the server
configured (stdlib ``QueueHandler`` / ``QueueListener``), so the lines, their format and
their destination are unchanged.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from logging.handlers import QueueHandler, QueueListener

ACCESS_LOGGER = "uvicorn.access"


class _RecordQueueHandler(QueueHandler):
    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Unformatted: uvicorn's access formatter reads the record's arguments (client,
        # method, path, status: immutable values, safe to format later in the thread).
        return record


@contextmanager
def access_log_off_the_loop(name: str = ACCESS_LOGGER) -> Iterator[None]:
    """While open, the logger's records are written by a listener thread (nothing changes
    for a logger without handlers, as under tests)."""
    logger = logging.getLogger(name)
    handlers = list(logger.handlers)
    if not handlers:
        yield
        return
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
