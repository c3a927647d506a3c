"""Fixtures of the Stripe adapter's tests: stripe-mock (Stripe's official API mock) on a free
port, the recording HTTP client the gateway talks to it through, and the world that makes
stripe-mock's fixture answers consistent (``tests/factories/stripe_mock.py``,
``tests/factories/payments.py``).
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.payments.stripe_gateway import StripeGateway
from tests.factories.payments import FixtureWorld
from tests.factories.stripe_mock import (
    API_KEY,
    RecordingHTTPClient,
    assert_accepted,
    subscription_flags,
)
from tests.factories.tools import tool

# -- stripe-mock ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stripe_mock() -> Iterator[str]:
    """A stripe-mock on a free port for the session; yields its HTTP base URL."""
    process = subprocess.Popen(
        [
            str(tool("stripe-mock")),
            "-http-addr",
            "127.0.0.1:0",
            # Otherwise it also opens HTTPS on the fixed default port 12112.
            "-https-addr",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = re.search(r"Listening for HTTP at address: (\S+)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        if not ready.wait(60) or not found:
            raise RuntimeError(f"stripe-mock did not start (exit code {process.poll()})")
        yield f"http://{found[0]}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def recorder() -> Iterator[RecordingHTTPClient]:
    client = RecordingHTTPClient()
    yield client
    assert_accepted(client.exchanges)


@pytest.fixture
async def gateway(stripe_mock: str, recorder: RecordingHTTPClient) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(API_KEY, api_base=stripe_mock, http_client=recorder)
    yield gateway
    await gateway.aclose()


@pytest.fixture
def world(recorder: RecordingHTTPClient) -> FixtureWorld:
    world = FixtureWorld()
    recorder.rewrites.append(world)
    recorder.rewrites.append(subscription_flags)
    return world
