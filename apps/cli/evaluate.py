"""`tinyfuse evaluate APP.toml --out DIR [--folds K] [--repeats R]`: grouped k-fold
cross-validation of the same passes `tinyfuse build` runs; writes DIR/evaluation.json."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tinyfuse.apps.cli.build import add_common, with_overrides
from tinyfuse.core.errors import DataError
from tinyfuse.fusion.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="cross-validate an app.toml's build by group (no bundle written)",
        description="Load the data once, then for every fold of whole groups (participants, "
        "volunteers, recordings) run the build's passes with that fold as the test split and "
        "pool the predictions: int8 (TFLite Micro), float student, teacher, each modality "
        "alone, majority and logistic-regression baselines. Folds and repeats come from the "
        "[evaluate] table unless given here. Writes --out/evaluation.json and the first "
        "fold's int8 model.")
    parser.add_argument("config", metavar="APP.toml", help="app config")
    add_common(parser)
    parser.add_argument("--folds", type=int, default=None, help="folds (default [evaluate])")
    parser.add_argument("--repeats", type=int, default=None,
                        help="fold assignments (default [evaluate])")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    from tinyfuse.fusion.evaluate import cross_validate

    for name in ("folds", "repeats"):
        value = getattr(args, name)
        if value is not None and value < (2 if name == "folds" else 1):
            raise DataError(f"--{name}: {value} is too small")
    config = with_overrides(load_config(args.config), args)
    result, first_model = cross_validate(config, data_dir=args.data, folds=args.folds,
                                         repeats=args.repeats)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "fold0_model.tflite").write_bytes(first_model)
    acc = result["accuracy"]
    print(f"{config.name}: {result['evaluation']}")
    print(f"  {result['n_test_answers']} answers from {result['n_groups']} groups: int8 "
          f"{acc['student_int8']:.3f}, float student {acc['student_float']:.3f} "
          f"(int8 - float {acc['int8_minus_float_points']:+.1f} points, agreement "
          f"{acc['int8_agrees_with_float']:.3f}), teacher {acc['teacher_float']:.3f}")
    base = result["baselines"]
    print(f"  baselines: logistic regression {base['logistic_regression']:.3f}, majority "
          f"{base['majority']:.3f}")
    metrics = result["int8_metrics"]
    print(f"  int8 balanced accuracy {metrics['balanced_accuracy']:.3f}, macro-F1 "
          f"{metrics['macro_f1']:.3f}")
    for name, value in result.get("per_modality_int8", {}).items():
        print(f"  {name} only: {value:.3f}")
    for text in result["warnings"]:
        print(f"  WARNING: {text}")
    print(f"  wrote {out / 'evaluation.json'} and {out / 'fold0_model.tflite'} (the first "
          f"fold's int8 model)")
    return 0
