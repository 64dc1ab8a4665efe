"""The tables of ``bench/BENCHMARKS.md``, printed from the committed JSON results (so the page
shows what the JSON says): ``python bench/tables.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ("posture_thermal", "posture_thermal_insplit", "ceiling_fan", "ceiling_fan_insplit",
         "cwru", "cwru_de", "covid_cough", "coswara_sound", "coswara_sound_insplit",
         "coswara_participant", "skab")
CROSS = (("posture_thermal", "posture_thermal_insplit", "thermal posture, volunteers C and D "
          "never seen in training"),
         ("ceiling_fan", "ceiling_fan_insplit", "ceiling fan imbalance, a fan speed (high) "
          "never seen in training"),
         ("coswara_sound", "coswara_sound_insplit", "Coswara sound type, participants never "
          "seen in training"))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _bytes(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _numbers(document: dict[str, Any]) -> dict[str, Any]:
    """The figures of one task, whether it was built or cross-validated."""
    result = document["result"]
    acc = result["accuracy"]
    if "folds" in result:  # tinyfuse evaluate APP.toml
        base, metrics, model = result["baselines"], result["int8_metrics"], result["footprint"]
        test = f"{result['n_test_answers']} (grouped {len(result['folds'])}-fold runs)"
        student, classes = "-", result["classes"]
        majority = 1.0 / max(1, sum(1 for n in result["test_class_counts"] if n))
    else:
        base, metrics, model = acc["baselines"], acc["int8_metrics"], result["model"]
        test = f"{result['data']['n_test']} ({result['data']['split']})"
        student, classes = model.get("student", "-"), result["data"]["classes"]
        majority = base.get("majority_balanced_accuracy")
    flash = model.get("flash_bytes", model.get("flash_bytes_estimate"))
    return {"test": test, "classes": len(classes), "student": student,
            "int8": metrics["balanced_accuracy"],
            "ci": metrics.get("ci95", {}).get("balanced_accuracy"),
            "teacher": base.get("teacher_float_balanced_accuracy"),
            "linear": base.get("logistic_regression_balanced_accuracy"),
            "majority": majority, "accuracy": acc["student_int8"],
            "loss": 100 * (acc["student_float"] - acc["student_int8"]),
            "flash": flash, "ram": model.get("ram_peak_bytes"),
            "seconds": document["environment"]["wall_seconds"]}


def _row(task: str, document: dict[str, Any]) -> str:
    n = _numbers(document)
    ci = "" if not n["ci"] else f" ({_pct(n['ci'][0])}–{_pct(n['ci'][1])})"
    return (f"| {task} | {n['classes']} | {n['test']} | {n['student']} | "
            f"**{_pct(n['int8'])}**{ci} | {_pct(n['teacher'])} | {_pct(n['linear'])} | "
            f"{_pct(n['majority'])} | {_pct(n['accuracy'])} | {0.0 - n['loss']:+.1f} | "
            f"{_bytes(n['flash'])} | {_bytes(n['ram'])} | {n['seconds']:.0f} |")


def fusion_table() -> str:
    lines = ["| task | classes | test | deployed student | int8 balanced acc. (95 %) | "
             "float teacher | logistic regression | majority | int8 accuracy | "
             "int8 − float (pts) | flash (B) | RAM (B) | build (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for task in ORDER:
        path = RESULTS / f"pipeline_{task}.json"
        if path.is_file():
            lines.append(_row(task, json.loads(path.read_text())))
    return "\n".join(lines)


VARIANTS = ("late", "gated", "early", "linear")


def _variant(row: dict[str, Any]) -> str:
    test = row["test"]
    auc = "" if test["roc_auc"] is None else f" ({test['roc_auc']:.3f})"
    return f"{_pct(test['balanced_accuracy'])}{auc}"


def parts_table() -> str:
    """Fusion against its parts (``[train] compare_fusion``): test balanced accuracy (ROC AUC)
    of every variant, the best single branch and the gain of the best fusion over it."""
    lines = ["| task | " + " | ".join(VARIANTS) + " | each branch alone | best fusion − best "
             "branch (pts) |", "|---|" + "---|" * (len(VARIANTS) + 2)]
    for task in ORDER:
        path = RESULTS / f"pipeline_{task}.json"
        fusion = json.loads(path.read_text())["result"].get("fusion") if path.is_file() else None
        if not fusion:
            continue
        rows = fusion["variants"]
        alone = ", ".join(f"{n.removesuffix(' only')} {_variant(rows[n])}" for n in rows
                          if n.endswith(" only"))
        lines.append(f"| {task} | " + " | ".join(_variant(rows[v]) if v in rows else "–"
                                                  for v in VARIANTS)
                     + f" | {alone} | {fusion.get('fusion_gain_points', 0.0):+.1f} |")
    return "\n".join(lines)


def cross_table() -> str:
    lines = ["| check | across groups: int8 balanced acc. | in-split (same groups) | "
             "logistic regression across / in |", "|---|---|---|---|"]
    for across, inside, what in CROSS:
        paths = [RESULTS / f"pipeline_{t}.json" for t in (across, inside)]
        if all(p.is_file() for p in paths):
            a, b = (_numbers(json.loads(p.read_text())) for p in paths)
            lines.append(f"| {what} | {_pct(a['int8'])} | {_pct(b['int8'])} | "
                         f"{_pct(a['linear'])} / {_pct(b['linear'])} |")
    return "\n".join(lines)


def commands() -> str:
    lines = []
    for task in ORDER:
        path = RESULTS / f"pipeline_{task}.json"
        if path.is_file():
            document = json.loads(path.read_text())
            seconds = document["environment"]["wall_seconds"]
            lines.append(f"{document['command']}   # {seconds:.0f} s")
    return "\n".join(lines)


def footprint_table() -> str:
    data = json.loads((RESULTS / "firmware_footprint.json").read_text())
    by_model: dict[str, dict[str, dict[str, Any]]] = {}
    for row in data["results"]:
        by_model.setdefault(row["model"], {})[row["kernels"]] = row
    lines = ["| model | ops | RAM peak P / D | TFLM arena | ratio P / D | flash P / D | "
             "instr/inference P / D | bit-exact |", "|---|---|---|---|---|---|---|---|"]
    for model, rows in by_model.items():
        p, d = rows["portable"], rows["dsp"]
        lines.append(
            f"| {model} | {', '.join(p['ops'])} | {p['ram_peak_bytes']:,} / "
            f"{d['ram_peak_bytes']:,} | {p['tflm_arena_bytes']:,} | "
            f"{p['ram_peak_over_tflm_arena']} / {d['ram_peak_over_tflm_arena']} | "
            f"{p['flash_bytes']:,} / {d['flash_bytes']:,} | "
            f"{p['instructions_per_inference']:,} / {d['instructions_per_inference']:,} | "
            f"{p['bit_exact'] and d['bit_exact']} |")
    return "\n".join(lines)


def delivery_table() -> str:
    data = json.loads((RESULTS / "mqtt_delivery.json").read_text())
    loss, stall = data["loss"], data["stall"]
    lines = ["| updates | broker kills | app kills | sent | received | lost | duplicates | "
             "queued tail out after the broker returned (s) |", "|---|---|---|---|---|---|---|---|",
             f"| {loss['updates']:,} | 2 | 1 | {loss['sent']:,} | {loss['received']:,} | "
             f"{loss['lost']} | {loss['duplicates']} | "
             f"{loss['tail_delivered_after_broker_return_s']} |", "",
             "| sink | publish, broker up: median / max (ms) | publish, broker stalled: median / "
             "max (ms) | stalled total for 40 publishes (s) |", "|---|---|---|---|"]
    for name in ("background_sender", "foreground"):
        up, down = stall[name]["broker_up"], stall[name]["broker_stalled"]
        lines.append(f"| {name.replace('_', ' ')} | {up['median_ms']} / {up['max_ms']} | "
                     f"{down['median_ms']} / {down['max_ms']} | {down['total_s']} |")
    return "\n".join(lines)


def bad_inputs_table() -> str:
    data = json.loads((RESULTS / "bad_inputs.json").read_text())
    lines = ["| bad input | exit | what the user sees (last stderr line) |", "|---|---|---|"]
    for row in data["rows"]:
        seen = row["error"].replace("|", "\\|")
        if row.get("run_summary") and row["exit"] == 0:
            seen = f"counted in run_summary.json: {row['run_summary']['sensor_faults']}"
        lines.append(f"| {row['case']} | {row['exit']} | {seen[:230]} |")
    return "\n".join(lines)


def main() -> int:
    print(commands(), end="\n\n")
    print(fusion_table(), end="\n\n")
    print(parts_table(), end="\n\n")
    print(cross_table(), end="\n\n")
    print(footprint_table(), end="\n\n")
    print(delivery_table(), end="\n\n")
    print(bad_inputs_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
