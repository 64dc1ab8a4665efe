"""`tinyfuse compile MODEL.tflite|BUILD_DIR --out DIR`: int8 .tflite -> model.c, model.h + the
runtime. Given a build folder, the bundle's model is compiled and ``model.h`` carries the bundle
hash, its modality names and class labels (what ``deploy`` and a board check)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from tinyfuse.core.errors import ExportError


def register(subparsers) -> None:
    parser = subparsers.add_parser("compile", help="compile an int8 .tflite to C99")
    parser.add_argument("model", type=Path,
                        help="int8 .tflite file, or a build folder (bundle.json + model.tflite)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--prefix", default="tinyfuse_model", help="C symbol prefix")
    parser.set_defaults(handler=run)


def read_tflite(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ExportError(f"cannot read model {path}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    from tinyfuse.firmware.compiler import compile_model, estimate, runtime_dir, runtime_sources

    bundle = None
    if args.model.is_dir():
        from tinyfuse.core.bundle import Bundle

        bundle = Bundle.read(args.model)
        data = bundle.tflite
    else:
        data = read_tflite(args.model)
    compiled = compile_model(data, prefix=args.prefix, bundle=bundle)
    footprint = estimate(data)
    written = compiled.write(args.out)
    runtime_out = args.out / "runtime"
    runtime_out.mkdir(parents=True, exist_ok=True)
    for path in [*runtime_sources(), *sorted(runtime_dir().glob("*.h"))]:
        shutil.copy2(path, runtime_out / path.name)
        written.append(runtime_out / path.name)
    print(footprint.summary())
    print(f"arena {compiled.arena_bytes} bytes, weights {compiled.weights_bytes} bytes, "
          f"ops: {', '.join(compiled.ops_used)}")
    if bundle is not None:
        print(f"bundle {bundle.bundle_hash[:16]} ({bundle.app}: {', '.join(bundle.modalities)} "
              f"-> {len(bundle.classes)} classes)")
    for path in written:
        print(f"wrote {path}")
    return 0
