"""Strict validation of Stripe-shaped JSON against the pinned version's OpenAPI spec.

The spec is OpenAPI 3.0, whose schemas are not JSON Schema as they stand: ``nullable`` has
no JSON Schema meaning, and an object schema allows any property it does not name. Both
are rewritten once for the whole of ``components/schemas`` (``nullable`` becomes an
``anyOf`` with ``null``; every object schema that names its ``properties`` and says nothing
of ``additionalProperties`` refuses others), so an object validates only if Stripe could
have sent it: no field it does not know, none it requires missing, every value of the
declared type, enum and shape. Expandable fields are ``anyOf`` an id or the object in the
spec already, so both forms validate. ``jsonschema`` does the validating.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from tests.factories.stripe_spec import spec

# OpenAPI keywords that are annotations here, or that JSON Schema would misread.
_DROPPED = {"nullable", "discriminator", "example", "xml", "externalDocs", "deprecated"}


class SchemaViolation(AssertionError):
    """The object is not what Stripe sends at the pinned version."""


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(child) for child in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: _strict(child) for name, child in value.items()}
        else:
            out[key] = _strict(value)
    if "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _root() -> dict[str, Any]:
    schemas = spec()["components"]["schemas"]
    return {"components": {"schemas": {name: _strict(s) for name, s in schemas.items()}}}


@cache
def validator(schema_name: str) -> Draft202012Validator:
    root = _root()
    if schema_name not in root["components"]["schemas"]:
        raise KeyError(f"the spec has no schema {schema_name!r}")
    return Draft202012Validator({**root, "$ref": f"#/components/schemas/{schema_name}"})


@cache
def schema_for_object_type() -> dict[str, str]:
    """The schema of each ``object`` value (``"checkout.session"`` -> ``checkout.session``)."""
    found: dict[str, str] = {}
    for name, schema in spec()["components"]["schemas"].items():
        enum = ((schema.get("properties") or {}).get("object") or {}).get("enum") or []
        if len(enum) == 1 and not name.startswith("deleted_"):
            found.setdefault(str(enum[0]), name)
    return found


def _path(error: Any) -> str:
    return "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)


def _leaf(error: Any) -> Any:
    """An ``anyOf`` error (nullable, expandable) only says no branch matched; the deepest
    complaint of the branches that could have matched says why."""
    if not error.context:
        return error
    branches = [
        e for e in error.context if not (e.validator == "type" and e.validator_value == "null")
    ]
    if not branches:
        return best_match(error.context)
    return _leaf(max(branches, key=lambda e: (len(e.absolute_path), e.validator != "type")))


def errors(schema_name: str, obj: Any) -> list[str]:
    """Every violation (an empty list when ``obj`` conforms)."""
    found = []
    for error in validator(schema_name).iter_errors(obj):
        detail = _leaf(error)
        found.append(f"{schema_name}{_path(detail)}: {detail.message}")
    return sorted(found)


def validate(schema_name: str, obj: Any) -> None:
    problems = errors(schema_name, obj)
    if problems:
        raise SchemaViolation("\n".join(problems[:20]))


def validate_object(obj: Mapping[str, Any]) -> None:
    """Validate by the object's own ``object`` field."""
    kind = str(obj.get("object"))
    name = schema_for_object_type().get(kind)
    if name is None:
        raise SchemaViolation(f"no schema for object type {kind!r}")
    validate(name, obj)


def validate_event(event: Mapping[str, Any]) -> None:
    """An event, and the object it carries against its own type's schema."""
    validate("event", event)
    validate_object(event["data"]["object"])
