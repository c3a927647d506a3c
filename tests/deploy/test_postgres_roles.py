"""deploy/postgres/initdb/10-roles.sh, run for real the way the postgres image runs it: on a
scratch PostgreSQL cluster of its own (the roles are cluster-wide, so not on the shared test
server), as POSTGRES_USER against POSTGRES_DB, then logged in to over TCP with the passwords."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from core.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "deploy/postgres/initdb/10-roles.sh"
OWNER, DATABASE = "lifecycle", "lifecycle"  # POSTGRES_USER, POSTGRES_DB in docker-compose.yml


def _bin_dir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = sorted(root.iterdir(), key=lambda p: int(p.name)) if root.is_dir() else []
    return versions[-1] / "bin" if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    port: int
    socket_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "PGHOST": str(self.socket_dir),
            "PGPORT": str(self.port),
            "PGUSER": OWNER,
            "POSTGRES_USER": OWNER,
            "POSTGRES_DB": DATABASE,
            **extra,
        }


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (make test installs them: scripts/postgres.sh)")
    # Outside pytest's temporary folders, which only their owner may enter.
    folder = Path(tempfile.mkdtemp(prefix="lifecycle-pg-"))
    # initdb refuses to run as root: run the server as the postgres user then.
    as_server = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_server:
        shutil.chown(folder, "postgres")
    data, port, log = folder / "data", _free_port(), folder / "log"
    auth = ["--auth-local=trust", "--auth-host=scram-sha-256"]
    start = ["-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "-l", str(log)]
    try:
        subprocess.run(
            [*as_server, str(bin_dir / "initdb"), "-D", str(data), "-U", OWNER, *auth],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*as_server, str(bin_dir / "pg_ctl"), "-D", str(data), *start, "-w", "start"],
            check=True,
            capture_output=True,
        )
        made = Cluster(port=port, socket_dir=folder)
        # The image creates POSTGRES_DB before it runs the init scripts.
        subprocess.run(["createdb", DATABASE], env=made.env(), check=True, capture_output=True)
        yield made
    finally:
        subprocess.run(
            [*as_server, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _run_script(cluster: Cluster, **passwords: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env=cluster.env(**passwords),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _login(cluster: Cluster, user: str, password: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1", port=cluster.port, user=user, password=password, database=DATABASE
    )


async def test_the_roles_log_in_with_their_passwords_and_only_temporal_creates_databases(
    cluster: Cluster,
) -> None:
    result = _run_script(
        cluster, LIFECYCLE_APP_DB_PASSWORD="app-secret", TEMPORAL_DB_PASSWORD="temporal-secret"
    )
    assert result.returncode == 0, result.stderr
    app = await _login(cluster, "lifecycle_app", "app-secret")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("CREATE DATABASE not_for_the_app")
        superuser = await app.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert superuser is False
    finally:
        await app.close()
    temporal = await _login(cluster, "temporal", "temporal-secret")
    try:
        await temporal.execute("CREATE DATABASE temporal_check")
        await temporal.execute("DROP DATABASE temporal_check")
    finally:
        await temporal.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await _login(cluster, "lifecycle_app", "wrong")


async def test_running_it_again_keeps_the_roles_and_takes_new_passwords(cluster: Cluster) -> None:
    for app_password in ("first", "rotated"):
        result = _run_script(
            cluster, LIFECYCLE_APP_DB_PASSWORD=app_password, TEMPORAL_DB_PASSWORD="t"
        )
        assert result.returncode == 0, result.stderr
    with pytest.raises(asyncpg.InvalidPasswordError):
        await _login(cluster, "lifecycle_app", "first")
    await (await _login(cluster, "lifecycle_app", "rotated")).close()


def test_it_refuses_to_run_without_the_passwords(cluster: Cluster) -> None:
    result = _run_script(cluster, TEMPORAL_DB_PASSWORD="t")
    assert result.returncode != 0
    assert "LIFECYCLE_APP_DB_PASSWORD" in result.stderr
