"""How the API process runs: it writes uvicorn's access lines itself, in batches (or, for
handlers that need real records, from a thread), and what startup built is out of the
garbage collector's reach."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import threading

import pytest
from temporalio.client import Client
from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import AccessFormatter

from api.access_log import ACCESS_LOGGER, ACCESS_MESSAGE, FLUSH_SECONDS, AccessLines
from core.temporal import DATA_CONVERTER
from tests.factories.apps import api_client
from tests.factories.settings import auth, make_settings


def _uvicorn_access_logger(stream: io.StringIO, *, use_colors: bool) -> logging.Handler:
    """``uvicorn.access`` as uvicorn's default log config sets it up."""
    logger = logging.getLogger(ACCESS_LOGGER)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        AccessFormatter(LOGGING_CONFIG["formatters"]["access"]["fmt"], use_colors=use_colors)
    )
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


@pytest.mark.parametrize("use_colors", [False, True])
async def test_the_api_writes_uvicorns_access_lines_itself(
    database_url: str, task_queue: str, use_colors: bool
) -> None:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    temporal = await Client.connect("127.0.0.1:1", lazy=True, data_converter=DATA_CONVERTER)
    stream = io.StringIO()
    handler = _uvicorn_access_logger(stream, use_colors=use_colors)
    logger = logging.getLogger(ACCESS_LOGGER)
    try:
        async with api_client(settings, temporal) as http:
            # Uvicorn skips a logger without handlers: no record is made per request.
            assert not logger.hasHandlers()
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/v1/plans")).status_code == 401
            assert (await http.get("/nowhere to go", params={"a": "é"})).status_code == 404
            answered = await http.post("/v1/usage", json={"events": []}, headers=auth())
            # Written in batches, without waiting for the server to stop.
            for _ in range(100):
                if stream.getvalue().count("\n") == 4:
                    break
                await asyncio.sleep(FLUSH_SECONDS)
            assert stream.getvalue().count("\n") == 4
        assert logger.handlers == [handler]

        def uvicorns(method: str, path: str, status: int) -> str:
            record = logging.LogRecord(
                ACCESS_LOGGER,
                logging.INFO,
                __file__,
                0,
                ACCESS_MESSAGE,
                ("127.0.0.1:123", method, path, "1.1", status),
                None,
            )
            return handler.format(record) + "\n"

        assert stream.getvalue() == "".join(
            [
                uvicorns("GET", "/healthz", 200),
                uvicorns("GET", "/v1/plans", 401),
                uvicorns("GET", "/nowhere%20to%20go?a=%C3%A9", 404),
                uvicorns("POST", "/v1/usage", answered.status_code),
            ]
        )
    finally:
        logger.handlers = []


async def test_what_is_left_is_written_when_the_server_stops() -> None:
    stream = io.StringIO()
    _uvicorn_access_logger(stream, use_colors=False)
    lines = AccessLines()
    scope = {
        "type": "http",
        "client": ("10.0.0.1", 5),
        "method": "GET",
        "path": "/healthz",
        "query_string": b"",
        "http_version": "1.1",
    }
    try:
        with lines.serving():
            assert lines.lines is not None
            lines.lines.add(scope, 200)
            assert stream.getvalue() == ""
        assert stream.getvalue() == 'INFO:     10.0.0.1:5 - "GET /healthz HTTP/1.1" 200 OK\n'
        assert lines.lines is None
    finally:
        logging.getLogger(ACCESS_LOGGER).handlers = []


def test_handlers_that_need_records_get_them_from_a_thread() -> None:
    logger = logging.getLogger("test.access")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    # The moment of the request is in the line: a rendered template cannot have it.
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    writers: list[str] = []

    def note_writer(record: logging.LogRecord) -> bool:
        writers.append(threading.current_thread().name)
        return True

    handler.addFilter(note_writer)
    logger.handlers = [handler]
    lines = AccessLines()
    try:
        with lines.serving("test.access"):
            assert lines.lines is None
            assert logger.handlers != [handler]
            logger.info(ACCESS_MESSAGE, "127.0.0.1:5", "POST", "/v1/usage", "1.1", 200)
        assert logger.handlers == [handler]
        assert stream.getvalue().endswith(' 127.0.0.1:5 - "POST /v1/usage HTTP/1.1" 200\n')
        assert writers and writers[0] != threading.current_thread().name
        logger.info("after")
        assert stream.getvalue().endswith(" after\n")
    finally:
        logger.handlers = []


def test_a_format_that_reorders_the_fields_gets_records() -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(AccessFormatter("%(status_code)s %(request_line)s %(client_addr)s"))
    logger = logging.getLogger("test.reordered")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    lines = AccessLines()
    try:
        with lines.serving("test.reordered"):
            assert lines.lines is None
    finally:
        logger.handlers = []


def test_a_logger_without_handlers_is_left_alone() -> None:
    logger = logging.getLogger("test.silent")
    lines = AccessLines()
    with lines.serving("test.silent"):
        assert logger.handlers == []
        assert lines.lines is None


async def test_startup_puts_what_it_built_out_of_the_collectors_reach(
    database_url: str, task_queue: str
) -> None:
    settings = make_settings(database_url=database_url, task_queue=task_queue)
    temporal = await Client.connect("127.0.0.1:1", lazy=True, data_converter=DATA_CONVERTER)
    async with api_client(settings, temporal) as http:
        assert gc.get_freeze_count() > 0
        assert (await http.get("/healthz")).status_code == 200
