"""The engine reaches a Temporal that demands mutual TLS, configured the SDK's way only.

The dev server cannot serve TLS, so a TLS terminator written for the test stands in front of
it: it requires a client certificate issued by the test's CA, speaks ALPN h2 (gRPC), then
copies bytes to the dev server. Certificates are made at test time with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import os
import ssl
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from core.temporal import connect, connect_with
from tests.factories.schedules import clean_schedule
from workflows.analytics import CHURN_SCHEDULE_ID
from workflows.reconciliation import RECONCILIATION_SCHEDULE_ID
from workflows.retention import RETENTION_SCHEDULE_ID

# ---- certificates ------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        cert, key = folder / f"{name}.pem", folder / f"{name}-key.pem"
        cert.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert, key


def _issue(
    name: str,
    issuer: Issued | None,
    *,
    usage: x509.ObjectIdentifier | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> Issued:
    """A CA when ``issuer`` is None, else a leaf signed by ``issuer``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return Issued(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)


@dataclass(frozen=True)
class Pki:
    ca: Path
    server: tuple[Path, Path]
    client: tuple[Path, Path]
    stranger: tuple[Path, Path]  # a client certificate from a CA the server does not trust


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = _issue("lifecycle test CA", None)
    server = _issue(
        "temporal.test",
        ca,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client = _issue("lifecycle-worker", ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    other_ca = _issue("someone else's CA", None)
    stranger = _issue("lifecycle-worker", other_ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    ca_path, _ = ca.write(folder, "ca")
    return Pki(
        ca=ca_path,
        server=server.write(folder, "server"),
        client=client.write(folder, "client"),
        stranger=stranger.write(folder, "stranger"),
    )


# ---- the TLS terminator ------------------------------------------------------------------


class TlsTerminator:
    """Accepts TLS (client certificate required, ALPN h2) and relays the bytes to a plain
    gRPC server. Counts the connections that completed the handshake."""

    def __init__(self, upstream: str, context: ssl.SSLContext) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.context = context
        self.accepted = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TlsTerminator:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.wait_closed()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._tasks.discard(task)
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, ssl.SSLError, RuntimeError):
            writer.close()


def server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki.server)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    return context


@pytest.fixture
async def terminator(dev_server_env: WorkflowEnvironment, pki: Pki) -> AsyncIterator[TlsTerminator]:
    upstream = dev_server_env.client.service_client.config.target_host
    async with TlsTerminator(upstream, server_context(pki)) as proxy:
        yield proxy


@pytest.fixture
def temporal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean slate: no TEMPORAL_* variable and no profile file from the machine."""
    for name in list(os.environ):
        if name.startswith("TEMPORAL_"):
            monkeypatch.delenv(name)
    empty = tmp_path / "no-profiles.toml"
    empty.write_text("")
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(empty))
    return monkeypatch


def _tls_variables(
    env: pytest.MonkeyPatch, proxy: TlsTerminator, pki: Pki, client: tuple[Path, Path] | None
) -> None:
    env.setenv("TEMPORAL_ADDRESS", proxy.address)
    env.setenv("TEMPORAL_NAMESPACE", "default")
    env.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(pki.ca))
    env.setenv("TEMPORAL_TLS_SERVER_NAME", "localhost")
    if client is not None:
        env.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(client[0]))
        env.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(client[1]))


async def _round_trip(client: Client) -> None:
    """Real calls through the TLS connection: describe the namespace, start a workflow."""
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace)
    )
    assert described.namespace_info.name == "default"
    handle = await client.start_workflow(
        "NothingRunsThis", id=f"tls-{uuid.uuid4()}", task_queue=f"tls-{uuid.uuid4()}"
    )
    assert (await handle.describe()).status is not None
    await handle.terminate("the TLS test only starts it")


# ---- the tests ---------------------------------------------------------------------------


async def test_connects_with_the_client_certificate_from_tls_variables(
    terminator: TlsTerminator, pki: Pki, temporal_env: pytest.MonkeyPatch
) -> None:
    _tls_variables(temporal_env, terminator, pki, pki.client)
    client = await connect_with(Settings())
    await _round_trip(client)
    assert terminator.accepted >= 1, "the client did not go through the TLS terminator"


async def test_connects_with_a_profile_from_the_config_file(
    terminator: TlsTerminator, pki: Pki, temporal_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    profiles = tmp_path / "temporal.toml"
    profiles.write_text(
        f"""
[profile.secured]
address = "{terminator.address}"
namespace = "default"

[profile.secured.tls]
server_name = "localhost"
server_ca_cert_path = "{pki.ca}"
client_cert_path = "{pki.client[0]}"
client_key_path = "{pki.client[1]}"
"""
    )
    temporal_env.setenv("TEMPORAL_CONFIG_FILE", str(profiles))
    temporal_env.setenv("TEMPORAL_PROFILE", "secured")
    await _round_trip(await connect_with(Settings()))


async def test_without_the_client_certificate_the_connection_is_refused(
    terminator: TlsTerminator, pki: Pki, temporal_env: pytest.MonkeyPatch
) -> None:
    _tls_variables(temporal_env, terminator, pki, None)
    with pytest.raises(RuntimeError):
        await connect_with(Settings())


async def test_a_certificate_from_another_ca_is_refused(
    terminator: TlsTerminator, pki: Pki, temporal_env: pytest.MonkeyPatch
) -> None:
    _tls_variables(temporal_env, terminator, pki, pki.stranger)
    with pytest.raises(RuntimeError):
        await connect_with(Settings())


async def test_plaintext_does_not_get_through(terminator: TlsTerminator) -> None:
    with pytest.raises(RuntimeError):
        await connect(terminator.address, "default")


async def _temporal_setup(environ: dict[str, str]) -> tuple[int, str]:
    """``lifecycle temporal setup`` as a process of its own (the proxy keeps serving)."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "lifecycle"),
        "temporal",
        "setup",
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, output.decode()


async def test_lifecycle_temporal_setup_reads_the_tls_variables(
    terminator: TlsTerminator,
    pki: Pki,
    temporal_env: pytest.MonkeyPatch,
    dev_server_env: WorkflowEnvironment,
) -> None:
    queue = f"tls-{uuid.uuid4()}"
    temporal_env.setenv("TEMPORAL_TASK_QUEUE", queue)
    _tls_variables(temporal_env, terminator, pki, None)
    async with (
        clean_schedule(dev_server_env.client, RETENTION_SCHEDULE_ID),
        clean_schedule(dev_server_env.client, CHURN_SCHEDULE_ID),
        clean_schedule(dev_server_env.client, RECONCILIATION_SCHEDULE_ID),
    ):
        refused, output = await _temporal_setup(dict(os.environ))
        assert refused != 0, output
        _tls_variables(temporal_env, terminator, pki, pki.client)
        code, output = await _temporal_setup(dict(os.environ))
        assert code == 0, output
        schedule = await dev_server_env.client.get_schedule_handle(CHURN_SCHEDULE_ID).describe()
        action = schedule.schedule.action
        assert getattr(action, "task_queue", None) == queue
