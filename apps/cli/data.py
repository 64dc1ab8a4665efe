"""`tinyfuse data inspect PATH`: what a dataset folder holds, and every file it cannot use."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from tinyfuse.apps.cli import numbers
from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources import LOADERS, LoadResult, detect_dataset, load_dataset

MAX_GROUPS_LISTED = 30


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="inspect datasets",
                                   description="Inspect sensor datasets.")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    inspect = actions.add_parser(
        "inspect", help="counts per class and group, modalities, skipped files and why",
        description="Load PATH (auto-detects the known sets or a <class>/<file> folder), print "
        "counts per class and per group, the modalities, and every skipped file with its reason.")
    inspect.add_argument("path", metavar="PATH", help="dataset folder")
    inspect.add_argument("--dataset", default="auto",
                         choices=["auto", "folder", *sorted(LOADERS)],
                         help="dataset layout (default: auto-detect)")
    inspect.add_argument("--limit", type=numbers.count, default=None,
                         help="load at most N files per class (or per the loader's unit)")
    inspect.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                         help="extra loader option, e.g. mode=participant or split=deploy")
    inspect.add_argument("--json", dest="json_path", metavar="FILE",
                         help="also write the report as JSON")
    inspect.add_argument("--all-groups", action="store_true",
                         help=f"list every group even when there are more than "
                         f"{MAX_GROUPS_LISTED}")
    inspect.set_defaults(handler=run_inspect)


def _option_value(text: str) -> object:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def parse_options(pairs: list[str]) -> dict[str, object]:
    """``["a=1", "b=x", "c=DE,FE"]`` -> ``{"a": 1, "b": "x", "c": ["DE", "FE"]}`` (ints and
    floats converted; a comma makes a list)."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.isidentifier():
            raise DataError(f"--option {pair!r}: expected KEY=VALUE")
        options[key] = ([_option_value(part) for part in text.split(",")] if "," in text
                        else _option_value(text))
    return options


def run_inspect(args: argparse.Namespace) -> int:
    name = detect_dataset(args.path) if args.dataset == "auto" else args.dataset
    options = parse_options(args.option)
    if args.limit is not None:
        options["limit"] = args.limit
    try:
        result = load_dataset(name, args.path, **options)
    except TypeError as exc:
        raise DataError(f"{name}: bad loader option ({exc})") from None
    report = {"path": str(Path(args.path)), "dataset": name, **result.summary()}
    _print_report(result, report, all_groups=args.all_groups)
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json_path}")
    if not result.samples:
        print(f"nothing could be loaded from {args.path} ({report['n_skipped']} files skipped)",
              file=sys.stderr)
        return 1
    return 0


def _print_report(result: LoadResult, report: dict, *, all_groups: bool) -> None:
    print(f"{report['path']}: {report['dataset']} ({report['n_samples']} samples, "
          f"{report['n_groups']} groups, {report['n_skipped']} skipped)")
    print(f"modalities: {', '.join(report['modalities']) or '-'}")
    for modality in report["modalities"]:
        shapes = sorted({s.data[modality].shape for s in result if modality in s.data})
        print(f"  {modality}: shapes {_shape_text(shapes)}")
    print("samples per class:")
    for label, count in report["counts_by_class"].items():
        print(f"  {label:<32} {count:>7}")
    groups = report["counts_by_group"]
    print(f"samples per group ({len(groups)} groups):")
    if groups and (all_groups or len(groups) <= MAX_GROUPS_LISTED):
        for group, count in groups.items():
            print(f"  {group:<32} {count:>7}")
    elif groups:
        counts = list(groups.values())
        print(f"  min {min(counts)}, median {statistics.median(counts):g}, max {max(counts)} "
              f"(--all-groups lists them)")
    print(f"skipped ({report['n_skipped']}):")
    for skip in report["skipped"]:
        print(f"  {skip['path']}: {skip['reason']}")
    for note in report["notes"][:1]:
        print(f"note: {note}")


def _shape_text(shapes: list[tuple[int, ...]]) -> str:
    if len(shapes) <= 3:
        return ", ".join(str(s) for s in shapes)
    lengths = [s[0] for s in shapes]
    return f"{len(shapes)} distinct, first axis {min(lengths)}..{max(lengths)}"
