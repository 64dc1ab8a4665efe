"""The alert payload is versioned and described by apps/alert.schema.json (checked here with a
small validator for the keywords the schema uses); alert ids are stable across runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tinyfuse.apps.confirm import PAYLOAD_SCHEMA, apply_answer, incident_id, raise_alert
from tinyfuse.apps.policy import Decision

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "apps" / "alert.schema.json")
                    .read_text())
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def problems(value, schema: dict, where: str = "$") -> list[str]:
    """What ``value`` breaks of ``schema`` (type, const, enum, required, properties,
    additionalProperties, items, minItems/maxItems, minimum, pattern)."""
    out = []
    kinds = schema.get("type")
    if kinds and not any(_is(value, k) for k in ([kinds] if isinstance(kinds, str) else kinds)):
        return [f"{where}: {value!r} is not {kinds}"]
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        out.append(f"{where}: {value} < {schema['minimum']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        out += [f"{where}: missing {key}" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                out += problems(item, properties[key], f"{where}.{key}")
            elif extra is False:
                out.append(f"{where}: unexpected {key}")
            elif isinstance(extra, dict):
                out += problems(item, extra, f"{where}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 10**9):
            out.append(f"{where}: {len(value)} items")
        for index, item in enumerate(value):
            out += problems(item, schema.get("items", {}), f"{where}[{index}]")
    return out


def _decision(time_s: float = 12.5) -> Decision:
    return Decision(label="fault", score=0.7, time_s=time_s, classes=("ok", "fault"),
                    scores=(0.3, 0.7), hits=2, needs_confirmation=True,
                    reason="score 0.700 below confident level 0.800", missing=("thermal",))


def test_every_lifecycle_update_matches_the_schema():
    raised = raise_alert(_decision(), alert_id=incident_id("pump", "m1", "fault", 12.5),
                         app="pump", device="m1", bundle_hash="ab" * 32)
    confirmed = apply_answer(raised, "confirm", now_s=20.0, by="operator")
    for alert in (raised, confirmed):
        payload = json.loads(json.dumps(alert.to_payload()))
        assert problems(payload, SCHEMA) == [], problems(payload, SCHEMA)
        assert payload["schema"] == PAYLOAD_SCHEMA == SCHEMA["properties"]["schema"]["const"]
    assert problems({**raised.to_payload(), "colour": "red"}, SCHEMA) == ["$: unexpected colour"]


def test_alert_ids_are_stable_per_incident():
    first = incident_id("pump", "m1", "fault", 12.5)
    assert first == incident_id("pump", "m1", "fault", 12.5)  # a rerun, a restart
    others = {incident_id("pump", "m2", "fault", 12.5), incident_id("pump", "m1", "ok", 12.5),
              incident_id("pump", "m1", "fault", 13.0), incident_id("fan", "m1", "fault", 12.5)}
    assert first not in others and len(others) == 4
    assert re.fullmatch(r"pump-[0-9a-f]{12}", first)
