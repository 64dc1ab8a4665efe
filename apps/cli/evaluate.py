"""`tinyfuse evaluate`, two ways:

* ``tinyfuse evaluate APP.toml --out DIR [--folds K] [--repeats R]``: grouped k-fold
  cross-validation of the same passes `tinyfuse build` runs;
* ``tinyfuse evaluate BUNDLE --data DIR [--option K=V ...] --out OUT``: a built bundle scored
  on a labelled data set it never saw (another load, user, room, site), with its own
  Preprocessor and int8 engine.

Both write OUT/evaluation.json."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from tinyfuse.apps.cli import numbers
from tinyfuse.apps.cli.build import add_common, with_overrides
from tinyfuse.apps.cli.fusion_table import fusion_lines
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
    parser.add_argument("config", metavar="APP.toml|BUNDLE",
                        help="an app config (cross-validate its build) or a build folder "
                        "(score that bundle on --data)")
    add_common(parser)
    parser.add_argument("--dataset", default="auto",
                        help="with a bundle: the loader of --data (default: auto-detect)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="with a bundle: a loader option, e.g. channels=DE")
    parser.add_argument("--scorer", choices=("host", "tflite"), default="host",
                        help="with a bundle: compiled C (host) or TFLite Micro")
    parser.add_argument("--folds", type=numbers.count, default=None,
                        help="folds (default [evaluate])")
    parser.add_argument("--repeats", type=numbers.count, default=None,
                        help="fold assignments (default [evaluate])")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if (Path(args.config) / "bundle.json").is_file():
        return run_bundle(args)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads
    from tinyfuse.fusion.evaluate import cross_validate

    if args.folds == 1:
        raise DataError("--folds: cross-validation needs at least 2 folds")
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
        print(f"  {name} only (others zeroed): {value:.3f}")
    for line in fusion_lines(result.get("fusion")):
        print(line)
    for text in result["warnings"]:
        print(f"  WARNING: {text}")
    print(f"  wrote {out / 'evaluation.json'} and {out / 'fold0_model.tflite'} (the first "
          f"fold's int8 model)")
    return 0


def run_bundle(args: argparse.Namespace) -> int:
    """Score the bundle in ``args.config`` on the labelled set in ``--data``."""
    from tinyfuse.apps.cli.data import parse_options
    from tinyfuse.apps.evaluation import evaluate_bundle
    from tinyfuse.core.bundle import Bundle
    from tinyfuse.fusion.metrics import write_confusion_png
    from tinyfuse.sensors.sources import load_dataset

    if not args.data:
        raise DataError(f"{args.config}: scoring a bundle needs --data DIR (a labelled set)")
    bundle = Bundle.read(args.config)
    options = parse_options(args.option)
    if args.limit:
        options["limit"] = args.limit
    loaded = load_dataset(args.dataset, args.data, **options)
    result = evaluate_bundle(bundle, loaded.samples, scorer=args.scorer, name=str(args.data))
    result["n_loader_skipped"] = len(loaded.skipped)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")
    write_confusion_png(np.asarray(result["confusion_matrix"]), bundle.classes,
                        out / "confusion.png", title=f"int8 bundle on {Path(args.data).name}")
    metrics = result["int8_metrics"]
    print(f"{bundle.app} (bundle {bundle.bundle_hash[:16]}) on {args.data}: "
          f"{result['n_scored']} samples scored by {result['engine']}")
    print(f"  accuracy {metrics['accuracy']:.3f}, balanced accuracy "
          f"{metrics['balanced_accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f} (best "
          f"constant answer {result['best_constant_answer']:.3f})")
    for group, row in list(result["per_group"].items())[:12]:
        print(f"    {group:<24} {row['n']:>6} samples  accuracy {row['accuracy']:.3f}")
    for text in result["warnings"]:
        print(f"  WARNING: {text}")
    print(f"  wrote {out / 'evaluation.json'} and {out / 'confusion.png'}")
    return 0
