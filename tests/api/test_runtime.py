"""How the API process runs: the access log leaves the event loop (same lines, same
handlers), and what startup built is out of the garbage collector's reach."""

from __future__ import annotations

import gc
import io
import logging
import threading

from temporalio.client import Client

from api.access_log import access_log_off_the_loop
from core.temporal import DATA_CONVERTER
from tests.factories.apps import api_client
from tests.factories.settings import make_settings


def test_access_lines_are_written_by_a_thread_with_the_servers_handlers() -> None:
    logger = logging.getLogger("test.access")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    # Like uvicorn's access formatter: the record's arguments are read when formatting.
    handler.setFormatter(logging.Formatter("%(message)s"))
    writers: list[str] = []

    def note_writer(record: logging.LogRecord) -> bool:
        writers.append(threading.current_thread().name)
        return True

    handler.addFilter(note_writer)
    logger.handlers = [handler]
    try:
        with access_log_off_the_loop("test.access"):
            assert logger.handlers != [handler]
            logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "POST", "/v1/usage", "1.1", 200)
        assert logger.handlers == [handler]
        assert stream.getvalue() == '127.0.0.1:5 - "POST /v1/usage HTTP/1.1" 200\n'
        assert writers and writers[0] != threading.current_thread().name
        logger.info("after")
        assert stream.getvalue().endswith("after\n")
    finally:
        logger.handlers = []


def test_a_logger_without_handlers_is_left_alone() -> None:
    logger = logging.getLogger("test.silent")
    with access_log_off_the_loop("test.silent"):
        assert logger.handlers == []


async def test_startup_puts_what_it_built_out_of_the_collectors_reach(
    database_url: str, task_queue: str
) -> None:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    temporal = await Client.connect("127.0.0.1:1", lazy=True, data_converter=DATA_CONVERTER)
    async with api_client(settings, temporal) as http:
        assert gc.get_freeze_count() > 0
        assert (await http.get("/healthz")).status_code == 200
