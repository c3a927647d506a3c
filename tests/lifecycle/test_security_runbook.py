"""docs/incident-response.md names exact commands: each `lifecycle …` line of its shell
blocks is run, in the document's order, against a database of its own, and what the
containment and recovery commands claim to do is checked."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from activities.anchors import AnchorTarget, write_anchor
from core.settings import REPO_ROOT
from db.models import ApiKey
from domain.anchors import private_text
from services.access_review import create_api_key
from services.freeze import freeze_state
from tests.factories.databases import Database

RUNBOOK = REPO_ROOT / "docs" / "incident-response.md"
# Commands that answer with exit 1 by design at the point the runbook runs them.
EXPECTED_EXIT: dict[tuple[str, ...], int] = {("freeze", "status"): 1}


def runbook_commands() -> list[list[str]]:
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", RUNBOOK.read_text(), flags=re.DOTALL):
        for line in block.splitlines():
            if line.startswith("lifecycle "):
                commands.append(shlex.split(line, comments=True)[1:])
    return commands


def test_the_runbook_names_the_commands_of_each_phase() -> None:
    named = {tuple(c[:2]) for c in runbook_commands()}
    for expected in (
        ("security", "events"),
        ("security", "webhook-secrets"),
        ("audit", "verify"),
        ("audit", "export"),
        ("keys", "review"),
        ("keys", "revoke"),
        ("keys", "revoke-scope"),
        ("keys", "create"),
        ("freeze", "on"),
        ("freeze", "status"),
        ("freeze", "off"),
        ("audit", "anchor"),
    ):
        assert expected in named, expected


async def _run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lifecycle",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_every_runbook_command_runs(own_database: Database, tmp_path: Path) -> None:
    sessions = own_database.sessions
    leaked = await create_api_key(sessions, scope="app", name="leaked", actor="test")
    admin = await create_api_key(sessions, scope="admin", name="ops", actor="test")
    anchors = tmp_path / "anchors"
    key = Ed25519PrivateKey.generate()
    await write_anchor(sessions, AnchorTarget(anchors, key), datetime.now(UTC))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFECYCLE_", "STRIPE_"))}
    env |= {
        "DATABASE_URL": own_database.url,
        "LIFECYCLE_ANCHOR_DIR": str(anchors),
        "LIFECYCLE_ANCHOR_SIGNING_KEY": private_text(key),
        "STRIPE_WEBHOOK_SECRET": "whsec_new",
        "STRIPE_WEBHOOK_SECRET_PREVIOUS": "whsec_old",
        "STRIPE_WEBHOOK_SECRET_PREVIOUS_UNTIL": (
            datetime.now(UTC) + timedelta(hours=6)
        ).isoformat(),
    }
    ran = []
    for command in runbook_commands():
        places = {"<key-id>": leaked.id, "/var/lib/lifecycle/anchors": str(anchors)}
        args = [places.get(a, a) for a in command]
        assert not any(a.startswith("<") for a in args), args
        code, output = await _run(args, env, tmp_path)
        assert "Traceback" not in output, (args, output)
        assert code == EXPECTED_EXIT.get(tuple(args[:2]), 0), (args, output)
        ran.append(tuple(args[:2]))
        if args[:2] == ["freeze", "on"]:
            assert (await freeze_state(sessions)).active
    assert ("freeze", "off") in ran
    assert len(list(anchors.glob("*.json"))) == 2  # the one before, `audit anchor`'s
    assert not (await freeze_state(sessions)).active
    assert (tmp_path / "ledger-incident.csv").read_text().startswith("id,")
    async with sessions() as session:
        keys = {k.id: k for k in await session.scalars(select(ApiKey))}
    assert keys[leaked.id].revoked_at is not None
    assert keys[admin.id].revoked_at is not None  # revoke-scope admin
    fresh = [k for k in keys.values() if k.scope == "admin" and k.revoked_at is None]
    assert [k.name for k in fresh] == ["ops after INC-42"]
