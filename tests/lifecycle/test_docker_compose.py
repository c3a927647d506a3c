"""docker-compose.yml, Dockerfile and .dockerignore: valid Compose, consistent with the engine.

No Docker engine runs here, so the files are checked statically:

- the compose file against the official Compose Specification JSON schema. The schema is
  vendored byte for byte as ``tests/lifecycle/data/compose-spec.json``, taken from
  ``schema/compose-spec.json`` of the Go module ``github.com/compose-spec/compose-go/v2`` at
  ``v2.16.2`` (the library Docker Compose loads files with; the module zip came from
  proxy.golang.org and was verified against sum.golang.org, module hash
  ``h1:pTp1DqQwJzFd85GzlWsSszKA1ABrV/ySqsClujIcWA8=``). To update it, download a newer module
  zip the same way, copy the file and update ``SCHEMA_SHA256``;
- every command the stack runs against the real ``lifecycle`` CLI (its click commands and options);
- every environment variable of the engine's containers against what ``Settings`` reads;
- healthchecks, pinned image tags and ``depends_on`` conditions;
- the Dockerfile's commands and base images, and that ``.dockerignore`` keeps what the build needs.
"""

from __future__ import annotations

import ast
import copy
import graphlib
import hashlib
import importlib
import importlib.util
import json
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import typer.main
import yaml
from packaging.specifiers import SpecifierSet
from sqlalchemy.engine import make_url

from core.settings import REPO_ROOT, Settings

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
SCHEMA_FILE = Path(__file__).parent / "data" / "compose-spec.json"
SCHEMA_SOURCE = "github.com/compose-spec/compose-go/v2@v2.16.2 schema/compose-spec.json"
SCHEMA_SHA256 = "f266dcbb043229405d7cedd5aec918f9102c2b3d5e3850808fdd8edd564a43ff"

ONE_SHOT = "no"  # `restart: "no"` marks a job that runs to completion (migrations, setup)
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# ---- loading -----------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


@cache
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return schema


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = _schema()
    # The validator class the schema declares in "$schema" (Draft 2020-12 for this version).
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    ]


@cache
def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def console_script() -> str:
    scripts = _pyproject()["project"]["scripts"]
    names = [name for name, target in scripts.items() if target == "lifecycle.cli:app"]
    assert names, "pyproject.toml installs no console script for lifecycle.cli:app"
    return names[0]


_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<named>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: str) -> str:
    """Compose interpolation with no variables set: defaults apply, required ones are marked."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("named")
        op, arg = match.group("op"), match.group("arg")
        if op in (":-", "-"):
            return arg or ""
        if op in (":?", "?"):
            return f"required-{name.lower()}"
        return ""

    return _INTERPOLATION.sub(replace, value)


def services() -> dict[str, dict[str, Any]]:
    return load_compose()["services"]


def engine_services() -> dict[str, dict[str, Any]]:
    """The services that run the engine's own image (built from this repository)."""
    found = {name: svc for name, svc in services().items() if "build" in svc}
    assert found, "no service builds the engine image"
    return found


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    assert command, "an engine service must say which `lifecycle` command it runs"
    return shlex.split(command) if isinstance(command, str) else [str(w) for w in command]


def service_running(subcommand: str) -> tuple[str, dict[str, Any]]:
    """The engine service that runs ``lifecycle <subcommand>``."""
    for name, service in engine_services().items():
        if resolve_cli(command_words(service))[1] == f"{console_script()} {subcommand}":
            return name, service
    raise AssertionError(f"no service runs `{console_script()} {subcommand}`")


def is_one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart", "no") == ONE_SHOT


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


# ---- the CLI -----------------------------------------------------------------------------


def resolve_cli(words: list[str]) -> tuple[Any, str, list[str]]:
    """The click command ``words`` run, its full name, and the arguments left for it.

    Typer vendors its own copy of click (``typer._click``), so commands are told apart by
    what they can do rather than by the classes of the ``click`` distribution.
    """
    from lifecycle.cli import app  # the real Typer app the `lifecycle` console script runs

    assert words and words[0] == console_script(), (
        f"{words!r} does not run the `{console_script()}` console script"
    )
    command: Any = typer.main.get_command(app)
    path, rest = [words[0]], list(words[1:])
    while hasattr(command, "list_commands"):  # a group: the next word names a subcommand
        assert rest and not rest[0].startswith("-"), (
            f"`{' '.join(words)}`: `{' '.join(path)}` needs a subcommand"
        )
        context = typer.Context(command, info_name=" ".join(path))
        name = rest.pop(0)
        sub = command.get_command(context, name)
        assert sub is not None, (
            f"`{' '.join(words)}`: `{' '.join(path)}` has no command {name!r} "
            f"(it has {sorted(command.list_commands(context))})"
        )
        command, path = sub, [*path, name]
    return command, " ".join(path), rest


def check_cli_words(words: list[str]) -> None:
    """``words`` run an existing command with options it has and values it accepts."""
    command, name, rest = resolve_cli(words)
    known = {
        opt
        for param in command.params
        if param.param_type_name == "option"
        for opt in (*param.opts, *param.secondary_opts)
    }
    for word in rest:
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            assert option in known, (
                f"`{' '.join(words)}`: `{name}` has no option {option} (it has {sorted(known)})"
            )
    try:  # parse for real: option values, types, missing or extra arguments
        command.make_context(name, list(rest))
    except typer.TyperException as exc:  # click's UsageError and BadParameter derive from it
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        pytest.fail(f"`{' '.join(words)}` does not parse: {message}")


# ---- the compose file: schema ------------------------------------------------------------


def test_vendored_schema_is_the_recorded_upstream_file() -> None:
    digest = hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()
    assert digest == SCHEMA_SHA256, f"tests/lifecycle/data/compose-spec.json is not {SCHEMA_SOURCE}"
    schema = _schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    assert schema_errors(load_compose()) == []


def _ports_as_int_mapping(doc: dict[str, Any]) -> None:
    doc["services"]["api"]["ports"] = {"8000": 8000}


def _unknown_top_level_key(doc: dict[str, Any]) -> None:
    doc["service"] = {"api": {"image": "x:1"}}


def _misspelt_healthcheck_key(doc: dict[str, Any]) -> None:
    doc["services"]["worker"]["healthcheck"]["intervall"] = "5s"


def _unknown_depends_on_condition(doc: dict[str, Any]) -> None:
    doc["services"]["api"]["depends_on"] = {"migrate": {"condition": "service_finished"}}


def _restart_policy_as_bool(doc: dict[str, Any]) -> None:
    # What an unquoted `restart: no` becomes under YAML 1.1.
    doc["services"]["migrate"]["restart"] = False


@pytest.mark.parametrize(
    "break_it",
    [
        _ports_as_int_mapping,
        _unknown_top_level_key,
        _misspelt_healthcheck_key,
        _unknown_depends_on_condition,
        _restart_policy_as_bool,
    ],
)
def test_schema_rejects_a_broken_copy(break_it: Any) -> None:
    broken = copy.deepcopy(load_compose())
    break_it(broken)
    assert schema_errors(broken), (
        f"the schema accepted a compose file broken by {break_it.__name__}"
    )


# ---- the compose file: consistency with the engine ---------------------------------------


def test_engine_services_run_real_cli_commands() -> None:
    ran: set[str] = set()
    for name, service in engine_services().items():
        words = command_words(service)
        try:
            check_cli_words(words)
        except AssertionError as exc:
            raise AssertionError(f"service {name!r}: {exc}") from None
        ran.add(resolve_cli(words)[1].split(" ", 1)[1])
    missing = {"api", "worker", "migrate", "temporal setup"} - ran
    assert not missing, f"no service runs `lifecycle {', '.join(sorted(missing))}`"


def test_engine_services_share_one_image_built_from_the_repo() -> None:
    builds = {json.dumps(svc["build"], sort_keys=True) for svc in engine_services().values()}
    images = {svc.get("image") for svc in engine_services().values()}
    assert len(builds) == 1, "engine services build the image in different ways"
    assert len(images) == 1 and None not in images, "engine services must name one image"
    (build,) = (svc["build"] for svc in list(engine_services().values())[:1])
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (REPO_ROOT / context).resolve() == REPO_ROOT
    assert (REPO_ROOT / context / dockerfile).resolve() == DOCKERFILE


def test_engine_services_set_only_variables_the_engine_reads() -> None:
    read = {name.upper() for name in Settings.model_fields}
    for name, service in engine_services().items():
        env = environment(service)
        unknown = set(env) - read
        assert not unknown, f"service {name!r} sets {sorted(unknown)}, which Settings never reads"
        # An empty string is a value, not "unset": optional variables are passed through bare.
        empty = sorted(key for key, value in env.items() if value == "")
        assert not empty, f"service {name!r} sets {empty} to an empty string"


def test_engine_services_reach_the_stack_s_postgres_and_temporal() -> None:
    all_services = services()
    postgres_env = environment(all_services["postgres"])
    namespace_env = environment(all_services["temporal-namespace"])
    for name, service in engine_services().items():
        env = environment(service)
        # The migration job connects as the owner; every other process with DATABASE_URL.
        owner = "LIFECYCLE_MIGRATE_DATABASE_URL"
        variable = owner if is_one_shot(service) and owner in env else "DATABASE_URL"
        assert variable in env, f"{name!r} would fall back to the SQLite default"
        url = make_url(interpolate(env[variable]))
        assert url.drivername == "postgresql+asyncpg", f"{name!r}: {url.drivername}"
        assert url.host in all_services, f"{name!r}: database host {url.host!r} is no service"
        assert url.database == postgres_env["POSTGRES_DB"]
        assert "TEMPORAL_ADDRESS" in env, f"{name!r} would fall back to localhost:7233"
        host, _, port = interpolate(env["TEMPORAL_ADDRESS"]).rpartition(":")
        assert host in all_services and port == "7233", f"{name!r}: {env['TEMPORAL_ADDRESS']}"
        assert env.get("TEMPORAL_NAMESPACE", "default") == namespace_env["DEFAULT_NAMESPACE"], (
            f"{name!r} uses a namespace the namespace job does not create"
        )


def test_api_keys_are_required_from_the_environment() -> None:
    env = environment(service_running("api")[1])
    for key in ("LIFECYCLE_APP_API_KEYS", "LIFECYCLE_ADMIN_API_KEYS"):
        assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", str(env.get(key))), (
            f"the api must take {key} from the environment as ${{{key}:?message}}"
        )


def test_long_running_services_have_healthchecks_and_one_shots_do_not_restart() -> None:
    for name, service in services().items():
        if is_one_shot(service):
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check.get("test") not in (["NONE"], "NONE"), (
            f"service {name!r} runs forever but has no healthcheck"
        )
        assert service.get("restart") in ("always", "unless-stopped", "on-failure"), (
            f"service {name!r} runs forever but is not restarted"
        )


def test_depends_on_conditions_reference_services_that_can_meet_them() -> None:
    all_services = services()
    graph: dict[str, set[str]] = {}
    for name, service in all_services.items():
        deps = depends_on(service)
        graph[name] = set(deps)
        for dep, condition in deps.items():
            assert dep in all_services, f"{name!r} depends on unknown service {dep!r}"
            assert condition in CONDITIONS, f"{name!r}: unknown condition {condition!r}"
            if condition == "service_healthy":
                assert "healthcheck" in all_services[dep], (
                    f"{name!r} waits for {dep!r} to be healthy, but {dep!r} has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert is_one_shot(all_services[dep]), (
                    f"{name!r} waits for {dep!r} to complete, but {dep!r} runs forever"
                )
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError on a cycle


def test_engine_processes_wait_for_migrations_and_temporal() -> None:
    one_shots = {name for name, svc in engine_services().items() if is_one_shot(svc)}
    for name, service in engine_services().items():
        if name in one_shots:
            continue
        deps = depends_on(service)
        for job in one_shots:
            assert deps.get(job) == "service_completed_successfully", (
                f"{name!r} must wait for {job}"
            )
        assert deps.get("temporal") == "service_healthy", f"{name!r} must wait for Temporal"


def _image_tag(reference: str) -> str | None:
    if "@sha256:" in reference:
        return "digest"
    last = reference.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def test_every_image_has_a_pinned_tag() -> None:
    for name, service in services().items():
        assert "image" in service, f"service {name!r} names no image"
        reference = interpolate(service["image"])
        tag = _image_tag(reference)
        assert tag, f"service {name!r}: image {reference!r} has no tag"
        assert tag != "latest", f"service {name!r}: image {reference!r} is not pinned"


def _healthcheck_commands() -> list[tuple[str, list[str]]]:
    found = []
    for name, service in services().items():
        test = (service.get("healthcheck") or {}).get("test")
        if isinstance(test, list) and test and test[0] == "CMD":
            found.append((name, [str(w) for w in test[1:]]))
    return found


def test_python_healthchecks_compile_and_import_what_exists() -> None:
    python_checks = [(n, words) for n, words in _healthcheck_commands() if words[0] == "python"]
    assert {name for name, _ in python_checks} >= {"api", "worker"}
    for name, words in python_checks:
        assert words[1] == "-c", f"{name!r}: expected `python -c <code>`"
        tree = ast.parse(words[2], filename=f"<healthcheck of {name}>")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert importlib.util.find_spec(alias.name), f"{name!r}: no {alias.name}"
            elif isinstance(node, ast.ImportFrom) and node.module:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{name!r}: no {node.module}.{alias.name}"


def test_api_healthcheck_probes_readiness_on_the_served_port() -> None:
    from api.app import create_app

    name, api = service_running("api")
    words = command_words(api)
    port = words[words.index("--port") + 1]
    code = dict(_healthcheck_commands())[name][2]
    url = re.search(r"https?://[^'\"]+", code)
    assert url, f"{name!r}: the healthcheck requests no URL"
    assert url.group(0) == f"http://127.0.0.1:{port}/readyz"
    settings = Settings(lifecycle_app_api_keys="k", lifecycle_admin_api_keys="k")
    assert "/readyz" in create_app(settings).openapi()["paths"], "the API serves no /readyz"


# ---- Dockerfile and .dockerignore --------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    return instructions


def test_dockerfile_pins_its_images_and_matches_requires_python() -> None:
    instructions = dockerfile_instructions()
    stages = set()
    python_bases = []
    for keyword, args in instructions:
        if keyword == "FROM":
            words = args.split()
            image = next(w for w in words if not w.startswith("--"))
            if image not in stages:
                assert _image_tag(image) not in (None, "latest"), f"FROM {image} is not pinned"
                if image.startswith(("python:", "docker.io/library/python:")):
                    python_bases.append(_image_tag(image))
            if len(words) >= 3 and words[-2].upper() == "AS":
                stages.add(words[-1])
        if keyword == "COPY":
            for source in re.findall(r"--from=(\S+)", args):
                if source not in stages:
                    assert _image_tag(source) not in (None, "latest"), f"COPY --from={source}"
    assert python_bases, "the image is not based on the official python image"
    requires = SpecifierSet(_pyproject()["project"]["requires-python"])
    for tag in python_bases:
        version = re.match(r"\d+\.\d+(\.\d+)?", str(tag))
        assert version and requires.contains(version.group(0)), f"python:{tag} vs {requires}"


def test_dockerfile_installs_the_locked_runtime_dependencies_and_runs_the_cli() -> None:
    instructions = dockerfile_instructions()
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert any("uv sync --frozen --no-dev" in run for run in runs), "no `uv sync --frozen --no-dev`"
    cmds = [args for keyword, args in instructions if keyword == "CMD"]
    assert cmds, "the image has no default command"
    words = json.loads(cmds[-1])  # exec form, so signals reach the process
    check_cli_words(words)
    final_stage = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    workdir = [args for keyword, args in final_stage if keyword == "WORKDIR"][-1]
    config = re.search(r"LIFECYCLE_CONFIG=(\S+)", " ".join(a for k, a in final_stage if k == "ENV"))
    assert config and config.group(1) == f"{workdir}/lifecycle.toml"
    assert any(keyword == "USER" for keyword, _ in final_stage), "the image runs as root"


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) per line, in order; Docker's last matching line wins."""
    patterns = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(line):
            if line.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif line.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif line[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif line[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif line[i] == "[":
                end = line.index("]", i)
                regex, i = regex + line[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(line[i]), i + 1
        patterns.append((negate, re.compile(regex)))
    return patterns


def dockerignored(path: str) -> bool:
    """Whether the build context leaves ``path`` out (a pattern also covers what is under it)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, regex in _dockerignore_patterns():
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_what_the_build_needs_and_drops_local_state() -> None:
    needed = ["pyproject.toml", "uv.lock", "lifecycle.toml", "alembic.ini"]
    readme = _pyproject()["project"].get("readme")
    if isinstance(readme, str):
        needed.append(readme)
    for package in _pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        files = [
            p.relative_to(REPO_ROOT).as_posix()
            for p in (REPO_ROOT / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ]
        assert files, f"package {package} has no files"
        needed += files
    left_out = [path for path in needed if dockerignored(path)]
    assert not left_out, f".dockerignore leaves out files the image needs: {left_out}"
    for path in [
        ".venv/bin/python",
        ".git/HEAD",
        ".lifecycle/lifecycle.db",
        ".env",
        "api/__pycache__/app.cpython-311.pyc",
        ".pytest_cache/README.md",
    ]:
        assert dockerignored(path), f".dockerignore sends {path} to the build context"
