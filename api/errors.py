"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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

    def to_response(self, request: Request) -> JSONResponse:
        body: dict[str, Any] = {
            "type": self.type if self.type == "about:blank" else PROBLEM_BASE + self.type,
            "title": self.title or _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "instance": request.url.path,
        }
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        body.update(self.extra)
        return JSONResponse(
            body, status_code=self.status, media_type=PROBLEM_JSON, headers=self.headers
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
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route for {request.method} {request.url.path}"
        return Problem(exc.status_code, detail, headers=dict(exc.headers or {})).to_response(
            request
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return Problem(500, "an unexpected error occurred; it has been logged").to_response(request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
