"""The tables of ``bench/BENCHMARKS.md``, printed from the committed JSON results (so the page
shows what the JSON says): ``python bench/tables.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ("posture_thermal", "cwru", "cwru_de", "covid_cough", "coswara_sound",
         "coswara_participant")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _bytes(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _row(task: str, document: dict[str, Any]) -> str:
    result, checks = document["result"], document["checks"]
    acc = result["accuracy"]
    evaluated = "folds" in result
    if evaluated:
        test = f"{result['n_test_answers']} answers ({result['evaluation'].split(':')[0]})"
        weights = result["footprint"]["weights_bytes"]
        arena = result["footprint"]["tflm_arena_bytes"]
        linear = result["baselines"]["logistic_regression"]
        branches = result.get("per_modality_int8") or {}
    else:
        data = result["data"]
        test = f"{data['n_test']} ({data['split']})"
        weights = result["model"]["weights_bytes"]
        arena = result["model"]["tflm_arena_bytes"]
        linear = acc.get("baselines", {}).get("logistic_regression")
        branches = acc.get("per_modality") or {}
    loss = checks["int8_within_1_point_of_float"]["loss_points"]
    fused = "–"
    if branches:
        gain = 100 * (acc["student_int8"] - max(branches.values()))
        fused = f"{gain:+.1f} ({', '.join(f'{k} {_pct(v)}' for k, v in branches.items())})"
    return (f"| {task} | {len(result['classes'] if evaluated else result['data']['classes'])} "
            f"| {test} | {_pct(acc['teacher_float'])} | {_pct(acc['student_float'])} | "
            f"{_pct(acc['student_int8'])} | {0.0 - loss:+.1f} | {_bytes(weights)} | "
            f"{_bytes(arena)} | {_pct(linear)} | {fused} |")


def fusion_table() -> str:
    lines = ["| task | classes | test | teacher | student float | student int8 | "
             "int8 − float (pts) | weights (B) | TFLM arena (B) | logistic regression | "
             "fused vs best branch (pts) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for task in ORDER:
        path = RESULTS / f"pipeline_{task}.json"
        if path.is_file():
            lines.append(_row(task, json.loads(path.read_text())))
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


def main() -> int:
    print(commands(), end="\n\n")
    print(fusion_table(), end="\n\n")
    print(footprint_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
