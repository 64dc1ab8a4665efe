"""Helpers every spec shares: field checks, known-field checks, canonical JSON and its hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from tinyfuse.core.errors import SpecError


def check(condition: bool, field: str, message: str) -> None:
    """Raise ``SpecError("<field>: <message>")`` unless ``condition`` holds."""
    if not condition:
        raise SpecError(f"{field}: {message}")


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no whitespace: the text that the hashes are taken over."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def spec_hash(data: Any) -> str:
    """First 16 hex digits of the SHA-256 of ``canonical_json(data)``."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:16]


def plain_fields(obj: Any) -> dict[str, Any]:
    """The dataclass ``obj``'s fields as a dict (not recursive)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def check_known(cls: type, data: Any, what: str) -> None:
    """``data`` must be a dict whose keys are fields of the dataclass ``cls``."""
    if not isinstance(data, dict):
        raise SpecError(f"{what}: expected an object, got {type(data).__name__}")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise SpecError(f"{what}: unknown fields {unknown}")


def loads_json(text: str, what: str) -> Any:
    """``json.loads`` that raises ``SpecError`` naming ``what``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{what}: invalid JSON ({exc})") from None
