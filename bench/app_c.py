"""The app on the device vs ``tinyfuse run`` on the host: replay parity, instructions, size.

One simulated posture stream (``tinyfuse.sensors.simulate`` frames in episodes, as
``tinyfuse.apps.runner.episodes`` orders them, one window a second, with a few windows missing
the depth sensor and one with a faulty thermal reading) is replayed through the host runner
(``run_stream`` with the compiled-C ``HostScorer``) and through the generated app
(``tinyfuse.firmware.app_c``) on each emulated board, and compared stage by stage:

* int8 inputs: host (Python front-ends) vs board, elements that differ and by how many LSB;
  and the host's standardisation + quantisation applied to the C front-end's features
  (compiled with the host's gcc) vs board, which must be bit-exact;
* int8 scores: the compiled model on the host, fed the board's int8 inputs, vs the board;
* decisions: ``policy.step`` on the board's scores vs the board's records (the policy port),
  and the host run's alerts vs the board's records (end to end).

Writes ``bench/results/app_c.json``: per board the parity counts, instructions per window split
into front-ends / model / policy, and flash and RAM of the whole app (``size -A`` without the
harness sections, see ``firmware/deploy.py``; RAM adds the stack high-water mark).

    .venv/bin/python -m bench.app_c [--bundle DIR] [--boards mps2-an386 riscv32-virt]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyfuse.apps.device_check import (
    app_check,
    decision_keys,
    lsb_differences,
    mismatches,
    record_keys,
)
from tinyfuse.apps.policy import Policy, initial_state, step
from tinyfuse.apps.runner import episodes, replay
from tinyfuse.core.bundle import Bundle
from tinyfuse.core.quant import dequantize
from tinyfuse.firmware import app_c, frontend_c
from tinyfuse.firmware.boards import find_board
from tinyfuse.firmware.host import HostModel
from tinyfuse.sensors.preprocess import Preprocessor

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "app_c.json"
BOARDS = ("mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547", "microbit", "netduinoplus2",
          "riscv32-virt")


def demo_policy(bundle: Bundle) -> Policy:
    """A policy that exercises every path on a short stream: two alert classes, 2-of-3,
    hysteresis, a 4 s cooldown, an uncertain band."""
    return Policy(classes=bundle.classes, alert_classes=("lying", "standing"),
                  on_levels=(0.5, 0.6), off_levels=(0.3, 0.45), confident_levels=(0.95, 0.99),
                  k=2, n=3, cooldown_s=4.0, confirm_when_missing=True)


def demo_stream(*, n_per_class: int = 10, seed: int = 7) -> list[tuple[float, Any]]:
    """``(time_s, Sample)`` pairs: simulated posture episodes, one a second; every seventh
    window lacks the depth frame and window 11 has a thermal fault (1e6 degC)."""
    from tinyfuse.sensors.simulate import simulate_posture

    data = simulate_posture(n_per_class=n_per_class, n_people=2, seed=seed)
    stream = []
    for index, (time_s, sample) in enumerate(replay(episodes(data.samples, seed=seed))):
        if index % 7 == 3:
            sample = dataclasses.replace(sample, data={"thermal": sample.data["thermal"]})
        elif index == 11:
            sample = dataclasses.replace(sample, data={**sample.data, "thermal": np.full_like(
                sample.data["thermal"], 1e6)})
        stream.append((time_s, sample))
    return stream


def _c_feature_inputs(bundle: Bundle, stream, work_dir: Path) -> list[list[np.ndarray]]:
    """The host's standardisation + quantisation of the C front-ends' features (host gcc)."""
    pre = Preprocessor.from_bundle(bundle)
    fronts = [frontend_c.HostFrontend(fe, work_dir / fe.name)
              for fe in frontend_c.generate_bundle(bundle)]
    rows = []
    for _, sample in stream:
        names = set(pre.missing(pre.features(sample)))
        features = {fe.generated.name: None if fe.generated.name in names
                    else fe.run(sample.data[fe.generated.name]) for fe in fronts}
        rows.append(pre.int8_inputs(features))
    return rows


def _records_by_policy(bundle: Bundle, policy: Policy, scores: np.ndarray, stream,
                       missing: Sequence[tuple[str, ...]]) -> list[tuple]:
    """``policy.step`` over the board's int8 scores (dequantised as the host scorer does)."""
    state, found = initial_state(policy), []
    for row, (time_s, _), gone in zip(scores, stream, missing, strict=True):
        values = dequantize(row, scale=bundle.output.scale, zero_point=bundle.output.zero_point)
        state, decision = step(policy, state, values, now_s=float(time_s), missing=gone)
        if decision is not None:
            found.extend(decision_keys([decision]))
    return found


def replay_parity(bundle: Bundle, *, policy: Policy, stream, board: str,
                  work_dir: Path) -> tuple[dict[str, Any], app_c.AppRun]:
    """Every comparison of the module docstring for one board; returns (counts, board run)."""
    counts, run, result = app_check(bundle, stream, board=board, work_dir=work_dir,
                                    policy=policy)
    same_features = _c_feature_inputs(bundle, stream, work_dir / "host_fe")
    model = HostModel.build(bundle.tflite, bundle=bundle)
    host_scores = np.stack([np.asarray(model.run(row)[0]).reshape(-1) for row in run.inputs])
    missing = [s.missing for s in result.steps]
    replayed = _records_by_policy(bundle, policy, run.scores, stream, missing)
    counts.update({
        "inputs_differing_same_c_features": int(
            (lsb_differences(same_features, run.inputs) > 0).sum()),
        "scores_differing_same_inputs": int((host_scores != run.scores).sum()),
        "host_scores_differing": int(sum(
            not np.array_equal(dequantize(b, scale=bundle.output.scale,
                                          zero_point=bundle.output.zero_point),
                               np.asarray(s.scores, np.float32))
            for b, s in zip(run.scores, result.steps, strict=True))),
        "policy_replay_mismatches": mismatches(replayed, record_keys(run.records)),
        "records": run.lines,
    })
    return counts, run


def small_bundle(out: Path) -> Bundle:
    """The posture app trained briefly (narrow model, 30 epochs on simulated frames) and
    written by the pipeline's own code: the bundle the benchmark replays."""
    import keras

    from tinyfuse.apps.policy import template_policy
    from tinyfuse.fusion import pipeline
    from tinyfuse.fusion.config import load_config
    from tinyfuse.fusion.export import convert_int8
    from tinyfuse.fusion.features import FeatureStore, fit_stats, labels_of
    from tinyfuse.fusion.features import model_inputs as fusion_inputs
    from tinyfuse.fusion.model import build_model
    from tinyfuse.fusion.train import train_classifier
    from tinyfuse.sensors.simulate import simulate_posture

    config = load_config(REPO / "apps" / "posture" / "app.toml")
    spec = config.fusion.scaled(width_multiplier=1.0, head_units=8)
    data = simulate_posture(n_per_class=24, n_people=6, seed=0)
    store, rows = FeatureStore.of(data), np.arange(len(data))
    stats = fit_stats(store, spec, rows)
    inputs = fusion_inputs(store, spec, rows, stats)
    keras.utils.set_random_seed(3)
    model = build_model(spec, seed=3)
    train_classifier(model, inputs, labels_of(data.samples, spec.classes), epochs=30,
                     batch_size=16, learning_rate=0.01)
    bundle = pipeline.make_bundle(config, spec, stats, convert_int8(model, inputs, n_samples=40))
    bundle = bundle.with_policy(template_policy(config.policy, bundle.classes))
    bundle.write(out)
    return Bundle.read(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="a bundle folder (default: train the "
                        "small posture bundle)")
    parser.add_argument("--boards", nargs="+", default=list(BOARDS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        bundle = Bundle.read(args.bundle) if args.bundle else small_bundle(work / "bundle")
        policy, stream = demo_policy(bundle), demo_stream()
        rows = []
        for board in args.boards:
            counts, run = replay_parity(bundle, policy=policy, stream=stream, board=board,
                                        work_dir=work / board)
            rows.append({**counts,
                         "instructions_per_tick": find_board(board).instructions_per_tick})
            log.info("%s: %s", board, {k: v for k, v in counts.items() if k != "records"})
    report = {"bundle_hash": bundle.bundle_hash, "app": bundle.app,
              "policy": policy.to_dict(), "command": "python -m bench.app_c", "boards": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
