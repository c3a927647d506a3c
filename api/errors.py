"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, get_args

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from db.writes import is_refused_value

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://docs.lifecycle.example/problems/"

logger = logging.getLogger("lifecycle.api")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


@dataclass
class FieldError:
    field: str
    message: str


@dataclass
class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    status: int
    detail: str
    type: str = "about:blank"
    title: str | None = None
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def document(self, path: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type if self.type == "about:blank" else PROBLEM_BASE + self.type,
            "title": self.title or _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "instance": path,
        }
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        body.update(self.extra)
        return body

    def to_response(self, request: Request) -> JSONResponse:
        return JSONResponse(
            self.document(request.url.path),
            status_code=self.status,
            media_type=PROBLEM_JSON,
            headers=self.headers,
        )


class ProblemField(BaseModel):
    field: str
    message: str


class ProblemDocument(BaseModel):
    """The body of every error (``application/problem+json``, RFC 9457)."""

    type: str = Field(description="A URI naming the kind of problem, or about:blank")
    title: str
    status: int
    detail: str
    instance: str = Field(description="The request path")
    errors: list[ProblemField] | None = Field(
        default=None, description="The fields at fault, for validation problems"
    )
    # Some problems carry more, e.g. decline_code, expected_api_version.
    model_config = {"extra": "allow", "title": "Problem"}


PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"

_DESCRIPTIONS = {
    400: "The request is malformed (e.g. a webhook body or signature)",
    401: "Missing or unknown API key",
    402: "The payment was declined or needs the customer's action",
    403: "The API key lacks the scope this operation needs",
    404: "The resource does not exist",
    409: "The request conflicts with the resource's current state",
    422: "A parameter or body field is invalid (named in `errors`)",
    503: "A dependency (workflow service, payment provider) is unavailable; retry later",
}


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or _DESCRIPTIONS.get(status, _TITLES.get(status, "Error")),
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
    }


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problems an operation can answer with."""
    return {status: problem_response(status) for status in statuses}


# A lifecycle command: the workflow may refuse it (409), the card may be declined (402),
# the workflow service or the provider may be away, or the command still running (503).
COMMAND_PROBLEMS = problem_responses(402, 409, 503)
# A call to the payment provider: declined (402) or unavailable (503).
PROVIDER_PROBLEMS = problem_responses(402, 503)
# A simulated hosted page's action: a decline (402), and the engine's intake of the events
# it emitted (503 while the workflow service is away).
SIMULATOR_PAGE_PROBLEMS = problem_responses(402, 503)


def validation_error(name: str, message: str) -> Problem:
    return Problem(
        422, f"{name}: {message}", type="validation-error", errors=[FieldError(name, message)]
    )


def not_found(what: str, identifier: str) -> Problem:
    return Problem(404, f"{what} {identifier!r} does not exist", type="not-found")


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_problem(exc: RequestValidationError) -> Problem:
    errors = []
    for error in exc.errors():
        name = _field_name(tuple(error.get("loc", ())))
        message = str(error.get("msg", "invalid value"))
        if error.get("type") == "json_invalid":
            name, message = "body", "request body is not valid JSON"
        elif error.get("type") == "extra_forbidden":
            message = "unknown field"
        errors.append(FieldError(name, message))
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return Problem(422, summary, type="validation-error", errors=errors)


def problem_for_error(exc: Exception, method: str, path: str) -> Problem:
    """The answer to an error no handler expected: a value the database cannot store (a
    NUL the edge did not catch, a number out of a column's range) is the client's input,
    so a 422 (the edge validation, reject_unstorable_input, names the field; this is the
    net below it); anything else a logged 500."""
    if is_refused_value(exc):
        logger.warning(
            "database refused a value on %s %s: %s", method, path, getattr(exc, "orig", exc)
        )
        return Problem(422, "a value in the request cannot be stored", type="validation-error")
    logger.exception("unhandled error on %s %s", method, path, exc_info=exc)
    return Problem(500, "an unexpected error occurred; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return exc.to_response(request)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation_problem(exc).to_response(request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # A body that is not even text (bytes that are not UTF-8): as invalid as bad
            # JSON, and answered alike.
            return Problem(
                422,
                "body: request body is not valid JSON",
                type="validation-error",
                errors=[FieldError("body", "request body is not valid JSON")],
            ).to_response(request)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route for {request.method} {request.url.path}"
        return Problem(exc.status_code, detail, headers=dict(exc.headers or {})).to_response(
            request
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem_for_error(exc, request.method, request.url.path).to_response(request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    # Handled like any error, but below the server-error layer (which re-raises what it
    # answers): a refused value is a client error, not a crash.
    app.add_exception_handler(DBAPIError, on_unexpected)
    app.add_exception_handler(Exception, on_unexpected)


# -- input PostgreSQL cannot store ---------------------------------------------------------

# PostgreSQL refuses NUL in text and JSONB, and BIGINT stops at 2^63 - 1; such input used
# to reach a statement (500) or a workflow's activity (retried forever). Refused once here,
# before any router runs, so every route is covered, including ones written later.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NUL = "\x00"
# Cheap screens over the raw body; only a hit pays for parsing it again to name the field.
_JSON_NUL = b"\\u0000"
# Every digit mapped to 0, so one substring search finds a run of 19 digits (a regex scan
# of a 1,000-event usage batch cost up to 2.7 ms of the hot path; this costs ~0.1 ms).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19
# What may come right before a JSON number (a minus sign: the number's own).
_BEFORE_NUMBER = frozenset(bytes([c]) for c in b":[, \t\r\n-")
# Endpoints that read their body raw and check it themselves (the webhook verifies the
# signature over the exact bytes first).
RAW_BODY_ENDPOINTS: set[Any] = set()


def _nul_problem(name: str) -> Problem:
    return validation_error(name, "must not contain NUL characters")


def _range_problem(name: str) -> Problem:
    return validation_error(name, f"must be between {INT64_MIN} and {INT64_MAX}")


_integer_params: dict[int, frozenset[str]] = {}


def _is_integer(annotation: Any) -> bool:
    if annotation is int:
        return True
    return any(_is_integer(arg) for arg in get_args(annotation))


def _integer_names(route: APIRoute) -> frozenset[str]:
    """Names of the route's path and query parameters declared as integers."""
    known = _integer_params.get(id(route))
    if known is None:
        names: set[str] = set()
        pending = [route.dependant]
        while pending:
            dependant = pending.pop()
            pending.extend(dependant.dependencies)
            names.update(
                field.alias
                for field in (*dependant.path_params, *dependant.query_params)
                if _is_integer(field.field_info.annotation)
            )
        known = frozenset(names)
        _integer_params[id(route)] = known
    return known


def _out_of_range(text: str) -> bool:
    try:
        value = int(text)
    except ValueError:
        return False
    return not INT64_MIN <= value <= INT64_MAX


def may_be_unstorable(body: bytes) -> bool:
    """False when a JSON body surely holds no NUL and no integer beyond BIGINT (no
    ``\\u0000`` escape, no run of 19 digits), so :func:`first_unstorable` need not walk it."""
    if _JSON_NUL in body:
        return True
    digits = body.translate(_DIGITS_TO_ZERO)
    at = digits.find(_NINETEEN_DIGITS)
    while at >= 0:
        # ``at`` starts a run of digits. Inside a string (a hex key holds such a run in
        # most batches of 1,000) it follows a letter or a quote; a number follows these.
        if at == 0 or digits[at - 1 : at] in _BEFORE_NUMBER:
            return True
        end = at + len(_NINETEEN_DIGITS)
        while digits[end : end + 1] == b"0":
            end += 1
        at = digits.find(_NINETEEN_DIGITS, end)
    return False


def first_unstorable(document: Any) -> Problem | None:
    """The first NUL or out-of-range integer in a JSON document, by its field path.
    Iterative: a deeply nested body must not exhaust the stack."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        name = ".".join(path) or "body"
        if isinstance(value, str):
            if _NUL in value:
                return _nul_problem(name)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                return _range_problem(name)
        elif isinstance(value, dict):
            for key, item in value.items():
                if _NUL in key:
                    return _nul_problem(".".join((*path, key.replace(_NUL, "\\0"))))
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(i))) for i, item in enumerate(value))
    return None


async def reject_unstorable_input(request: Request) -> None:
    """An app-wide dependency: a 422 naming the field for NUL in any path, query or JSON
    body value, and for integers outside PostgreSQL's BIGINT."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and _NUL in value:
            raise _nul_problem(name)
    for name, value in request.query_params.multi_items():
        if _NUL in name or _NUL in value:
            raise _nul_problem(name.replace(_NUL, "\\0"))
    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        integers = _integer_names(route)
        for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
            if name in integers and isinstance(value, str) and _out_of_range(value):
                raise _range_problem(name)
        if route.endpoint in RAW_BODY_ENDPOINTS:
            return
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
        return
    body = await request.body()
    if not may_be_unstorable(body):
        return
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON: the route's own parsing answers
    problem = first_unstorable(document)
    if problem is not None:
        raise problem
