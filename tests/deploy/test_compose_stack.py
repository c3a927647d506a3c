"""docker-compose.yml runs Temporal the production way and splits the database roles.

No Docker engine runs here: the compose file is read, and the scripts its one-shot jobs run
are executed for real with stand-ins for the admin tools' binaries (``temporal-sql-tool``,
``temporal``, ``nc``) that record how they were called. The rest of the file's checks (schema,
CLI commands, healthchecks) are in tests/lifecycle/test_docker_compose.py.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from core.settings import REPO_ROOT
from tests.lifecycle.test_docker_compose import (
    command_words,
    console_script,
    depends_on,
    environment,
    interpolate,
    is_one_shot,
    load_compose,
    resolve_cli,
)

Doc = dict[str, Any]
DEPRECATED_IMAGES = ("temporalio/auto-setup",)
SCHEMA_ROOT = "/etc/temporal/schema/postgresql/v12"  # in temporalio/admin-tools
APP_ROLE = "lifecycle_app"


def _image(service: Doc) -> tuple[str, str]:
    name, _, tag = interpolate(service.get("image", "")).rpartition(":")
    return name, tag


def _with_image(doc: Doc, image: str) -> dict[str, Doc]:
    return {n: s for n, s in doc["services"].items() if _image(s)[0] == image}


def service_running(doc: Doc, subcommand: str) -> tuple[str, Doc]:
    """The service of ``doc`` that runs ``lifecycle <subcommand>``."""
    for name, service in doc["services"].items():
        if "build" in service and (
            resolve_cli(command_words(service))[1] == f"{console_script()} {subcommand}"
        ):
            return name, service
    raise AssertionError(f"no service runs `lifecycle {subcommand}`")


def _variable(value: str) -> str | None:
    """The variable a compose value takes from the environment (``${NAME:?...}``)."""
    match = re.search(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", value)
    return match.group(1) if match else None


# ---- Temporal: server image, schema job, namespace job -----------------------------------


def temporal_problems(doc: Doc) -> list[str]:
    problems = []
    for name, service in doc["services"].items():
        if _image(service)[0].startswith(DEPRECATED_IMAGES):
            problems.append(f"{name!r} runs the deprecated {_image(service)[0]}")
    servers = _with_image(doc, "temporalio/server")
    if len(servers) != 1:
        return [*problems, f"expected one temporalio/server service, found {sorted(servers)}"]
    (server_name, server), release = (
        next(iter(servers.items())),
        _image(next(iter(servers.values())))[1],
    )
    tools = _with_image(doc, "temporalio/admin-tools")
    for name, service in tools.items():
        if _image(service)[1] != release:
            problems.append(f"{name!r}: admin tools {_image(service)[1]} for server {release}")
        if not is_one_shot(service):
            problems.append(f"{name!r} should run once, not restart")
    schema_jobs = [n for n, s in tools.items() if "setup-schema" in _script(s).read_text()]
    if len(schema_jobs) != 1:
        return [*problems, f"expected one schema job, found {schema_jobs}"]
    if depends_on(server).get(schema_jobs[0]) != "service_completed_successfully":
        problems.append(f"{server_name!r} does not wait for {schema_jobs[0]!r} to complete")
    namespace_jobs = [n for n, s in tools.items() if "namespace create" in _script(s).read_text()]
    if len(namespace_jobs) != 1:
        return [*problems, f"expected one namespace job, found {namespace_jobs}"]
    for command in ("api", "worker", "temporal setup"):
        name, service = service_running(doc, command)
        if depends_on(service).get(namespace_jobs[0]) != "service_completed_successfully":
            problems.append(f"{name!r} does not wait for the namespace job")
    return problems


def _script(service: Doc) -> Path:
    """The host file a job's command runs, through the service's bind mounts."""
    words = service.get("command") or []
    words = shlex.split(words) if isinstance(words, str) else [str(w) for w in words]
    target = next((w for w in words if w.endswith(".sh")), None)
    assert target, f"{service.get('image')}: the job runs no script"
    for volume in service.get("volumes") or []:
        source, _, rest = str(volume).partition(":")
        mount = rest.split(":")[0]
        if target.startswith(mount.rstrip("/") + "/"):
            return REPO_ROOT / source / target[len(mount.rstrip("/")) + 1 :]
    raise AssertionError(f"{target} is not mounted from the repository")


def test_temporal_runs_the_server_image_with_a_schema_job_and_a_namespace_job() -> None:
    assert temporal_problems(load_compose()) == []


def _auto_setup(doc: Doc) -> None:
    doc["services"]["temporal"]["image"] = "temporalio/auto-setup:1.29.7"


def _admin_tools_of_another_release(doc: Doc) -> None:
    doc["services"]["temporal-schema"]["image"] = "temporalio/admin-tools:1.29.1"


def _server_does_not_wait_for_the_schema(doc: Doc) -> None:
    doc["services"]["temporal"]["depends_on"] = {"postgres": {"condition": "service_healthy"}}


def _worker_does_not_wait_for_the_namespace(doc: Doc) -> None:
    del doc["services"]["worker"]["depends_on"]["temporal-namespace"]


@pytest.mark.parametrize(
    "break_it",
    [
        _auto_setup,
        _admin_tools_of_another_release,
        _server_does_not_wait_for_the_schema,
        _worker_does_not_wait_for_the_namespace,
    ],
)
def test_temporal_checks_catch_a_broken_copy(break_it: Callable[[Doc], None]) -> None:
    broken = copy.deepcopy(load_compose())
    break_it(broken)
    assert temporal_problems(broken), f"nothing caught {break_it.__name__}"


# ---- running the jobs' scripts with recording stand-ins -----------------------------------


def _stand_ins(folder: Path, scripts: dict[str, str]) -> Path:
    """Executables that append their arguments to calls.log and run ``scripts[name]``."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{folder}/calls.log"\n{body}\n')
        path.chmod(0o755)
    return bin_dir


def _run(script: Path, env: dict[str, str], bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(script)],
        env={**{k: v for k, v in env.items() if v is not None}, "PATH": f"{bin_dir}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _job_env(service: Doc) -> dict[str, str]:
    return {k: interpolate(str(v)) for k, v in environment(service).items() if v is not None}


def test_the_schema_job_creates_and_migrates_both_databases_as_the_server_reads_them(
    tmp_path: Path,
) -> None:
    doc = load_compose()
    job, server = doc["services"]["temporal-schema"], doc["services"]["temporal"]
    bin_dir = _stand_ins(tmp_path, {"temporal-sql-tool": "exit 0", "nc": "exit 0"})
    result = _run(_script(job), _job_env(job), bin_dir)
    assert result.returncode == 0, result.stderr
    calls = [line.split() for line in (tmp_path / "calls.log").read_text().splitlines()]
    tool_calls = [c[1:] for c in calls if c[0] == "temporal-sql-tool"]

    server_env = _job_env(server)
    expected_connection = {
        "--plugin": server_env["DB"],
        "--ep": server_env["POSTGRES_SEEDS"],
        "-p": server_env["DB_PORT"],
        "-u": server_env["POSTGRES_USER"],
    }
    steps: dict[str, list[list[str]]] = {}
    for args in tool_calls:
        options = dict(zip(args[::2], args[1::2], strict=False))
        assert {k: options.get(k) for k in expected_connection} == expected_connection, args
        steps.setdefault(options["--db"], []).append(args[args.index("--db") + 2 :])
    assert steps == {
        server_env.get("DBNAME", "temporal"): [
            ["create"],
            ["setup-schema", "-v", "0.0"],
            ["update-schema", "-d", f"{SCHEMA_ROOT}/temporal/versioned"],
        ],
        server_env.get("VISIBILITY_DBNAME", "temporal_visibility"): [
            ["create"],
            ["setup-schema", "-v", "0.0"],
            ["update-schema", "-d", f"{SCHEMA_ROOT}/visibility/versioned"],
        ],
    }
    # The job logs in with the password the server uses.
    assert _variable(environment(job)["SQL_PASSWORD"]) == _variable(
        environment(server)["POSTGRES_PWD"]
    )


def test_the_schema_job_fails_when_the_schema_cannot_be_applied(tmp_path: Path) -> None:
    job = load_compose()["services"]["temporal-schema"]
    failing = 'case "$*" in *setup-schema*) exit 3;; esac'
    bin_dir = _stand_ins(tmp_path, {"temporal-sql-tool": failing, "nc": "exit 0"})
    assert _run(_script(job), _job_env(job), bin_dir).returncode != 0


def test_the_namespace_job_creates_the_engine_namespace_once(tmp_path: Path) -> None:
    doc = load_compose()
    job = doc["services"]["temporal-namespace"]
    engine_namespace = environment(service_running(doc, "worker")[1])["TEMPORAL_NAMESPACE"]
    state = tmp_path / "namespace-exists"
    temporal = f"""
case "$*" in
  *"cluster health"*) echo "temporal.api.workflowservice.v1.WorkflowService SERVING";;
  *"namespace describe"*) test -f "{state}";;
  *"namespace create"*) touch "{state}";;
esac"""
    bin_dir = _stand_ins(tmp_path, {"temporal": temporal})
    for _ in range(2):
        result = _run(_script(job), _job_env(job), bin_dir)
        assert result.returncode == 0, result.stderr
    creates = [
        line for line in (tmp_path / "calls.log").read_text().splitlines() if "create" in line
    ]
    assert len(creates) == 1, creates
    words = creates[0].split()
    assert words[words.index("-n") + 1] == engine_namespace
    assert words[words.index("--address") + 1] == environment(job)["TEMPORAL_ADDRESS"]
    assert "--retention" in words


# ---- database roles ----------------------------------------------------------------------


def role_problems(doc: Doc) -> list[str]:
    services = doc["services"]
    postgres = services["postgres"]
    pg_env = environment(postgres)
    owner, owner_password = pg_env["POSTGRES_USER"], _variable(pg_env["POSTGRES_PASSWORD"])
    problems = []
    mounts = [str(v) for v in postgres.get("volumes") or []]
    if "./deploy/postgres/initdb:/docker-entrypoint-initdb.d:ro" not in mounts:
        problems.append("postgres does not run deploy/postgres/initdb at initialisation")
    for variable in ("LIFECYCLE_APP_DB_PASSWORD", "TEMPORAL_DB_PASSWORD"):
        if not re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", str(pg_env.get(variable))):
            problems.append(f"postgres must take {variable} from the environment as required")

    name, migrate = service_running(doc, "migrate")
    env = environment(migrate)
    url = make_url(interpolate(str(env.get("LIFECYCLE_MIGRATE_DATABASE_URL", "sqlite://"))))
    if url.username != owner or _variable(env["LIFECYCLE_MIGRATE_DATABASE_URL"]) != owner_password:
        problems.append(f"{name!r} must migrate as the owner {owner!r}")
    if env.get("LIFECYCLE_DATABASE_APP_ROLE") != APP_ROLE:
        problems.append(f"{name!r} must grant {APP_ROLE!r} its privileges")
    for command in ("api", "worker", "temporal setup"):
        name, service = service_running(doc, command)
        env = environment(service)
        url = make_url(interpolate(str(env.get("DATABASE_URL", "sqlite://"))))
        if url.username != APP_ROLE or _variable(env["DATABASE_URL"]) != (
            "LIFECYCLE_APP_DB_PASSWORD"
        ):
            problems.append(f"{name!r} must connect as {APP_ROLE!r}, not {url.username!r}")
        if "LIFECYCLE_MIGRATE_DATABASE_URL" in env:
            problems.append(f"{name!r} holds the owner's credentials")
    temporal_user = environment(services["temporal"]).get("POSTGRES_USER")
    if temporal_user in (owner, APP_ROLE):
        problems.append(f"Temporal shares the engine's role {temporal_user!r}")
    return problems


def test_database_roles_are_wired() -> None:
    assert role_problems(load_compose()) == []


def _api_as_owner(doc: Doc) -> None:
    env = doc["services"]["api"]["environment"]
    env["DATABASE_URL"] = env["DATABASE_URL"].replace("lifecycle_app:", "lifecycle:")


def _worker_with_owner_url(doc: Doc) -> None:
    migrate_env = doc["services"]["migrate"]["environment"]
    doc["services"]["worker"]["environment"]["LIFECYCLE_MIGRATE_DATABASE_URL"] = migrate_env[
        "LIFECYCLE_MIGRATE_DATABASE_URL"
    ]


def _migrate_without_grants(doc: Doc) -> None:
    del doc["services"]["migrate"]["environment"]["LIFECYCLE_DATABASE_APP_ROLE"]


def _no_init_scripts(doc: Doc) -> None:
    doc["services"]["postgres"]["volumes"] = ["postgres-data:/var/lib/postgresql/data"]


@pytest.mark.parametrize(
    "break_it", [_api_as_owner, _worker_with_owner_url, _migrate_without_grants, _no_init_scripts]
)
def test_role_checks_catch_a_broken_copy(break_it: Callable[[Doc], None]) -> None:
    broken = copy.deepcopy(load_compose())
    break_it(broken)
    assert role_problems(broken), f"nothing caught {break_it.__name__}"


def test_the_init_script_creates_the_roles_the_stack_logs_in_as() -> None:
    doc = load_compose()
    script = (REPO_ROOT / "deploy/postgres/initdb/10-roles.sh").read_text()
    assert os.access(REPO_ROOT / "deploy/postgres/initdb/10-roles.sh", os.X_OK)
    temporal_user = environment(doc["services"]["temporal"])["POSTGRES_USER"]
    for role in (APP_ROLE, temporal_user):
        assert re.search(rf"CREATE ROLE {role} LOGIN", script), f"no CREATE ROLE {role}"
