"""Reading the API's answers: JSON bodies, RFC 9457 problems, and the admin search's
cursor encoding."""

from __future__ import annotations

import base64
from typing import Any

import httpx

PROBLEM = "application/problem+json"
Json = dict[str, Any]


def assert_problem(response: httpx.Response, status: int, problem_type: str | None = None) -> Json:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: Json = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    if problem_type is not None:
        assert body["type"].endswith("/" + problem_type), body
    return body


def fields(problem: Json) -> list[str]:
    return [e["field"] for e in problem.get("errors", [])]


def ok(response: httpx.Response, status: int = 200) -> Json:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: Json = response.json()
    return body


def b64(value: str) -> str:
    """URL-safe base64 without padding, as the admin search encodes its cursors."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def problem_naming(response: httpx.Response, status: int, field: str) -> Json:
    """A problem of ``status`` whose errors name ``field``."""
    problem = assert_problem(response, status)
    assert field in fields(problem), problem
    return problem
