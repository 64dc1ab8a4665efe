"""Real-data benchmarks through the product: each ``bench/configs/<task>.toml`` is run with the
same command a user types (``tinyfuse build`` or ``tinyfuse evaluate``), and its report is
copied into ``bench/results/pipeline_<task>.json`` with the checks the benchmarks claim.

Usage::

    python bench/run_configs.py --all
    python bench/run_configs.py --task cwru_de [--task ...] [--root DATASETS] [--limit N]
    python bench/run_configs.py --all --recheck      # the checks again, from the stored JSON

Builds go to ``build/bench/<task>/`` (git-ignored): a built task leaves its bundle there, an
evaluated one its ``evaluation.json`` and the first fold's int8 model. Data:
``$TINYFUSE_DATASETS`` or ``../shared/datasets``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "bench" / "configs"
RESULTS = REPO / "bench" / "results"
BUILDS = REPO / "build" / "bench"
DATASETS = Path(os.environ.get("TINYFUSE_DATASETS", REPO.parent / "shared" / "datasets"))
KB = 1024
MAX_INT8_LOSS_POINTS = 1.0

# task -> (command, data folder under the datasets root, weight limit)
TASKS: dict[str, tuple[str, str, int]] = {
    "posture_thermal": ("build", "thermal_d6t_posture", 58 * KB),
    "posture_thermal_insplit": ("build", "thermal_d6t_posture", 58 * KB),
    "ceiling_fan": ("build", "ceiling_fan", 58 * KB),
    "ceiling_fan_insplit": ("build", "ceiling_fan", 58 * KB),
    "cwru_de": ("build", "cwru_0hp", 58 * KB),
    "cwru": ("build", "cwru_0hp", 58 * KB),
    "covid_cough": ("build", "covid19_cough", 16 * KB),
    "coswara_sound": ("evaluate", "coswara_20200413", 16 * KB),
    "coswara_sound_insplit": ("evaluate", "coswara_20200413", 16 * KB),
    "coswara_participant": ("evaluate", "coswara_20200413", 16 * KB),
    "skab": ("evaluate", "skab", 16 * KB),
}


def command_line(task: str, *, root: Path, limit: int | None) -> list[str]:
    """The ``tinyfuse`` arguments of one task, exactly as a user would type them."""
    command, folder, _ = TASKS[task]
    args = [command, str(CONFIGS / f"{task}.toml"), "--data", str(root / folder), "--out",
            str(BUILDS / task)]
    return args + (["--limit", str(limit)] if limit else [])


def checks(task: str, command: str, result: dict[str, Any]) -> dict[str, Any]:
    """The claims this benchmark reports on, each with ``holds``."""
    acc = result["accuracy"]
    loss = 100 * (acc["student_float"] - acc["student_int8"])
    weights = (result["footprint"] if command == "evaluate" else result["model"])[
        "weights_bytes"]
    out: dict[str, Any] = {
        "int8_within_1_point_of_float": {"loss_points": loss,
                                         "holds": bool(loss <= MAX_INT8_LOSS_POINTS)},
        "student_weights_under_limit": {"weights_bytes": weights,
                                        "limit_bytes": TASKS[task][2],
                                        "holds": bool(weights < TASKS[task][2])},
    }
    base = result.get("baselines") or acc.get("baselines", {})
    linear = base.get("logistic_regression_balanced_accuracy")
    if linear is not None:
        metrics = result.get("int8_metrics") or acc["int8_metrics"]
        gap = 100 * (metrics["balanced_accuracy"] - linear)
        out["int8_balanced_accuracy_within_1_point_of_logistic_regression_or_better"] = {
            "int8": metrics["balanced_accuracy"], "linear": linear, "gap_points": gap,
            "holds": bool(gap >= -1.0)}
    warnings = result.get("warnings", acc.get("warnings", []))
    out["no_report_warning"] = {"warnings": warnings, "holds": not warnings}
    branches = result.get("per_modality_int8") or acc.get("per_modality")
    if branches:
        gain = 100 * (acc["student_int8"] - max(branches.values()))
        out["fused_int8_beats_best_single_branch"] = {"gain_points": gain,
                                                      "holds": bool(gain > 0)}
    return out


def run_task(task: str, *, root: Path, limit: int | None) -> dict[str, Any]:
    from tinyfuse.apps.cli import main

    args = command_line(task, root=root, limit=limit)
    started = time.monotonic()
    code = main(args)
    if code != 0:
        raise SystemExit(f"{task}: tinyfuse {' '.join(args)} exited with {code}")
    command = TASKS[task][0]
    name = "evaluation.json" if command == "evaluate" else "report.json"
    result = json.loads((BUILDS / task / name).read_text())
    shown = ["tinyfuse", *[a.replace(str(REPO) + "/", "").replace(str(root), "DATASETS")
                           for a in args]]
    return {"task": task, "command": " ".join(shown), "limit": limit, "result": result,
            "checks": checks(task, command, result),
            "environment": {"python": platform.python_version(),
                            "machine": platform.machine(),
                            "wall_seconds": round(time.monotonic() - started, 1),
                            "note": "wall time on a shared 2-core machine; informative only"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--task", choices=sorted(TASKS), action="append")
    which.add_argument("--all", action="store_true")
    parser.add_argument("--root", type=Path, default=DATASETS)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--recheck", action="store_true",
                        help="recompute the checks of the stored results (no training)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.recheck:
        for task in (list(TASKS) if args.all else args.task):
            path = RESULTS / f"pipeline_{task}.json"
            document = json.loads(path.read_text())
            document["checks"] = checks(task, TASKS[task][0], document["result"])
            path.write_text(json.dumps(document, indent=2) + "\n")
            print(f"{task}: {json.dumps(document['checks'])}")
        return 0
    for task in (list(TASKS) if args.all else args.task):
        document = run_task(task, root=args.root, limit=args.limit)
        path = RESULTS / f"pipeline_{task}.json"
        path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"{task}: wrote {path}")
        print(json.dumps(document["checks"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
