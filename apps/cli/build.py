"""`tinyfuse build APP.toml --out DIR`: features -> teacher -> student -> prune -> quantize ->
export -> report, then decision thresholds calibrated on the validation split
(``tinyfuse.apps.thresholds``), then a short summary on stdout."""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import replace
from pathlib import Path

from tinyfuse.apps.cli import numbers
from tinyfuse.apps.cli.fusion_table import fusion_lines
from tinyfuse.apps.thresholds import CalibratedPolicy
from tinyfuse.fusion.boards import BOARD_NAMES, board_budget
from tinyfuse.fusion.config import AppConfig, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build", help="train, compress and export a fused int8 model from an app.toml",
        description="Run the whole pipeline on APP.toml (load, split, features, teacher, "
        "search, distill, prune, quantize, calibrate, export, report) and write the bundle "
        "(bundle.json + model.tflite), model_data.cc/.h, report.json, confusion.png, "
        "summary.txt, model_card.md and policy.json (decision thresholds calibrated on the "
        "validation split for the [policy] table's target) into --out.")
    parser.add_argument("config", metavar="APP.toml", help="app config (see apps/*/app.toml)")
    add_common(parser)
    parser.add_argument("--feedback", metavar="DIR", default=None,
                        help="fold the labelled examples `tinyfuse run` kept in DIR (confirmed "
                        "and dismissed alerts) into this build; the report says what they "
                        "changed (feedback.json, model_card.md)")
    parser.set_defaults(handler=run_build_command)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="train on the real dataset in DIR instead of the config's source")
    parser.add_argument("--limit", type=numbers.count, default=None,
                        help="with --data: load at most N files per class/unit, spread over its "
                             "recordings")
    parser.add_argument("--board", choices=BOARD_NAMES, default=None,
                        help="override the config's board budget")


def with_overrides(config: AppConfig, args: argparse.Namespace) -> AppConfig:
    """``--board`` replaces the budget. ``--data DIR`` replaces the data path: a config that
    names a dataset keeps it and its ``[data].options``; a simulated app switches to the
    data set found in DIR (auto-detected, no options). ``--limit N`` sets the loader's
    ``limit``."""
    if args.board:
        config = replace(config, budget=board_budget(args.board))
    if args.data:
        if config.data.dataset:
            kept = tuple((k, v) for k, v in config.data.options if k != "limit")
            data = replace(config.data, path=args.data, options=kept)
        else:
            data = replace(config.data, simulator="", dataset="auto", path=args.data,
                           options=())
        if args.limit:
            data = replace(data, options=tuple(sorted((*data.options, ("limit", args.limit)))))
        config = replace(config, data=data)
    return config


def run_config(config: AppConfig, args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    from tinyfuse.apps.build import BUILD_PASSES
    from tinyfuse.fusion.feedback import with_feedback
    from tinyfuse.fusion.pipeline import run_build

    folder = getattr(args, "feedback", None)
    passes = with_feedback(BUILD_PASSES, folder) if folder else BUILD_PASSES
    result = run_build(config, Path(args.out), data_dir=args.data, passes=passes)
    calibrated = result.products["calibration"]
    _print_model(config, result.report)
    _print_thresholds(calibrated)
    if "feedback" in result.report:
        _print_feedback(result.report["feedback"])
    print(f"  bundle {result.bundle.bundle_hash[:16]}; wrote {result.out_dir}/ (bundle.json, "
          f"model.tflite, model_data.cc/.h, policy.json, report.json, confusion.png, "
          f"summary.txt, model_card.md)")
    return 0


def _print_model(config: AppConfig, report: dict) -> None:
    acc, model = report["accuracy"], report["model"]
    print(f"{config.name}: int8 accuracy {acc['student_int8']:.3f} "
          f"(float student {acc['student_float']:.3f}, teacher {acc['teacher_float']:.3f})")
    for name, value in acc["per_modality"].items():
        print(f"  {name} only (others zeroed): {value:.3f}")
    if acc["per_modality"]:
        verdict = "beats" if acc["fused_beats_every_branch"] else "does not beat"
        print(f"  fused model {verdict} every single branch "
              f"(gain {acc['fused_gain_over_best_branch']:+.3f})")
    balanced = acc["int8_metrics"]["balanced_accuracy"]
    for name, value in acc.get("without_modality_balanced_accuracy", {}).items():
        print(f"  {name} sensor dropped: balanced accuracy {value:.3f} "
              f"({100 * (value - balanced):+.1f} points)")
    for line in fusion_lines(report.get("fusion")):
        print(line)
    cascade = report.get("cascade")
    if cascade and "skipped" in cascade:
        print(f"  cascade skipped: {cascade['skipped']}")
    elif cascade:
        chosen, base = cascade["chosen"], cascade["always_on"]
        print(f"  cascade ({cascade['gate']} gate at {cascade['threshold']:.3f}): wakes "
              f"{chosen['wake_fraction']:.0%} of windows, {chosen['energy_uj']:.0f} uJ per "
              f"decision vs {base['energy_uj']:.0f} always on ({100 * chosen['saving']:.0f} % "
              f"saved), balanced accuracy {chosen['balanced_accuracy']:.3f} vs "
              f"{base['balanced_accuracy']:.3f}")
    if model.get("dropped_branches"):
        print(f"  branches dropped by the search: {', '.join(model['dropped_branches'])}")
    metrics, base = acc["int8_metrics"], acc["baselines"]
    low, high = metrics["ci95"]["balanced_accuracy"]
    print(f"  int8 balanced accuracy {metrics['balanced_accuracy']:.3f} (95 % {low:.3f}-"
          f"{high:.3f}), macro-F1 {metrics['macro_f1']:.3f}; logistic regression "
          f"{base['logistic_regression_balanced_accuracy']:.3f}, teacher "
          f"{base['teacher_float_balanced_accuracy']:.3f}, majority "
          f"{base['majority_balanced_accuracy']:.3f} (balanced accuracy)")
    groups = acc.get("per_group") or {}
    if 1 < len(groups) <= 12:
        print("  per test group: " + ", ".join(f"{name} {row['accuracy']:.3f} ({row['n']})"
                                                for name, row in groups.items()))
    for text in acc["warnings"]:
        print(f"  WARNING: {text}")
    print(f"  compiled for Cortex-M4: flash {model['flash_bytes']} B (weights "
          f"{model['weights_bytes']} B), RAM {model['ram_peak_bytes']} B, {model['macs']} MACs; "
          f"fits {config.budget.name}: {model['fits_budget']}")


def _print_thresholds(calibrated: CalibratedPolicy) -> None:
    print(f"  decision thresholds ({calibrated.target.describe()}, "
          f"{calibrated.n_validation} validation samples):")
    for row in calibrated.classes:
        precision, recall = (("-" if math.isnan(v) else f"{v:.2f}")
                             for v in (row.precision, row.recall))
        print(f"    {row.label:<14} {row.threshold:.3f}  precision {precision}, recall "
              f"{recall} on {row.positives} examples ({row.source})")
    if calibrated.small_sample:
        print("    few validation examples: rough thresholds, recalibrate on site data "
              "(see model_card.md)")


def _print_feedback(info: dict) -> None:
    def number(value) -> str:
        return "-" if value is None else f"{value:.3f}"

    parts, effect = info["by_part"], info["effect"]
    print(f"  feedback: {info['n_used']} of {info['n_files']} examples used ({parts['train']} "
          f"train, {parts['val']} validation, {parts['test']} test), {info['n_skipped']} "
          f"skipped; answers {info['by_answer']}")
    for line in info["skipped"][:10]:
        print(f"    skipped {line}")
    if info["bundle_hash_mismatches"]:
        print(f"    {info['bundle_hash_mismatches']} recorded by another bundle than the one "
              f"in --out (used: the build re-runs the front-ends on their raw windows)")
    print(f"    held-out examples ({effect['held_out_examples']}): accuracy "
          f"{number(effect['held_out_accuracy_recording_bundle'])} (recording bundle) -> "
          f"{number(effect['held_out_accuracy_new_int8'])} (this int8 model)")
    for answer, row in effect["held_out_by_answer"].items():
        would = row["new_policy_would_alert"]
        print(f"    held-out {answer}ed alerts ({row['n']}): alerted class scored "
              f"{number(row['alert_score_recording'])} (recording bundle) -> "
              f"{number(row['alert_score_new_int8'])} (this int8 model"
              f"{'' if would is None else f'; its policy alerts on {would}'})")
    print(f"    validation balanced accuracy of a logistic regression: "
          f"{number(effect['validation_balanced_accuracy_linear_without_feedback'])} without "
          f"-> {number(effect['validation_balanced_accuracy_linear_with_feedback'])} with the "
          f"feedback (same validation rows)")


def run_build_command(args: argparse.Namespace) -> int:
    return run_config(with_overrides(load_config(args.config), args), args)
