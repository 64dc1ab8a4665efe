"""The app on a board against `tinyfuse run` on the host, on one stream: what
`tinyfuse deploy --app`, ``bench/app_c.py`` and ``bench/board_image.py`` compare.

The host side is ``run_stream`` as `tinyfuse run` wires it (the compiled-C scorer, a local
outbox, nobody answering, no drift monitor) with the policy the board runs; the board side is
the generated app (``tinyfuse.firmware.app_c``) on an emulated board. A decision is compared by
its key: stream time (ms), class, whether a person is asked, the modalities missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyfuse.apps.alerts import LocalOutbox
from tinyfuse.apps.confirm import Confirmations, QueueConfirm
from tinyfuse.apps.policy import Decision, Policy
from tinyfuse.apps.runner import RunResult, bundle_policy, run_stream
from tinyfuse.apps.scoring import HostScorer
from tinyfuse.core.bundle import Bundle
from tinyfuse.firmware import app_c, deploy
from tinyfuse.sensors.preprocess import Preprocessor

Stream = Sequence[tuple[float, Any]]  # (stream time s, Sample)


def host_run(bundle: Bundle, policy: Policy, stream: Stream,
             outbox: Path) -> tuple[RunResult, list[list[np.ndarray]]]:
    """The host run of ``stream`` and the int8 inputs of each window (the same Preprocessor
    calls the runner makes)."""
    result = run_stream(iter(stream), scorer=HostScorer(bundle), policy=policy,
                        sink=LocalOutbox(outbox), confirmations=Confirmations(QueueConfirm()),
                        device="check", monitor_drift=False)
    pre = Preprocessor.from_bundle(bundle)
    return result, [pre.int8_inputs(pre.features(sample)) for _, sample in stream]


def windows_of(bundle: Bundle, stream: Iterable[tuple[float, Any]]) -> list[app_c.Window]:
    """The board's windows of ``stream``: each modality's raw samples (``None``: missing)."""
    return [app_c.Window(time_s=float(t), raw={n: s.data.get(n) for n in bundle.modalities})
            for t, s in stream]


def decision_key(time_s: float, label: str, needs: bool, missing: Iterable[str]) -> tuple:
    return round(float(time_s), 3), label, "awaiting" if needs else "raised", tuple(missing)


def host_keys(result: RunResult) -> list[tuple]:
    return [decision_key(a.decision.time_s, a.decision.label, a.decision.needs_confirmation,
                         a.decision.missing) for a in result.alerts.values()]


def decision_keys(decisions: Iterable[Decision]) -> list[tuple]:
    return [decision_key(d.time_s, d.label, d.needs_confirmation, d.missing) for d in decisions]


def record_keys(records: Iterable[dict[str, Any]]) -> list[tuple]:
    return [decision_key(r["t"], r["label"], r["state"] == "awaiting", r["missing"])
            for r in records]


def mismatches(a: Sequence[tuple], b: Sequence[tuple]) -> int:
    """Keys in one list and not the other, plus repeats within either."""
    return len(set(a) ^ set(b)) + abs(len(a) - len(set(a))) + abs(len(b) - len(set(b)))


def lsb_differences(a: list[list[np.ndarray]], b: list[list[np.ndarray]]) -> np.ndarray:
    """|a - b| of every int8 input element of every window."""
    return np.concatenate([np.abs(np.concatenate([x.reshape(-1) for x in ra]).astype(int)
                                  - np.concatenate([y.reshape(-1) for y in rb]).astype(int))
                           for ra, rb in zip(a, b, strict=True)])


def size_row(run: app_c.AppRun) -> dict[str, int]:
    """Flash and RAM of the whole app (front-ends, model, policy, app; no harness)."""
    sizes = deploy.size_report(run.elf)
    return {"flash_bytes": sizes.flash_bytes, "text_bytes": sizes.text_bytes,
            "rodata_bytes": sizes.rodata_bytes, "data_bytes": sizes.data_bytes,
            "bss_bytes": sizes.bss_bytes, "stack_bytes": run.stack_bytes,
            "ram_bytes": sizes.data_bytes + sizes.bss_bytes + run.stack_bytes}


def instruction_row(run: app_c.AppRun) -> dict[str, int]:
    """Mean instructions per window of each stage, and the max of the total."""
    mean = run.instructions.mean(axis=0)
    return {"frontends": round(float(mean[0])), "model": round(float(mean[1])),
            "policy": round(float(mean[2])), "total": round(float(mean.sum())),
            "total_max": int(run.instructions.sum(axis=1).max())}


def app_check(bundle: Bundle, stream: Stream, *, board: str, work_dir: Path,
              policy: Policy | None = None
              ) -> tuple[dict[str, Any], app_c.AppRun, RunResult]:
    """Run ``stream`` through the host and through the app on ``board``: the counts (int8
    inputs, decisions, missing windows, instructions per window, the app's size), the board
    run and the host run."""
    chosen = policy or bundle_policy(bundle)
    result, host_inputs = host_run(bundle, chosen, stream, work_dir / "outbox")
    run = app_c.run_app_on_qemu(bundle, windows_of(bundle, stream), board=board,
                                work_dir=work_dir / board, policy=chosen)
    lsb = lsb_differences(host_inputs, run.inputs)
    host, on_board = host_keys(result), record_keys(run.records)
    counts = {
        "board": board, "windows": len(stream), "input_elements": int(lsb.size),
        "inputs_differing_host_python_features": int((lsb > 0).sum()),
        "inputs_max_lsb_host_python_features": int(lsb.max()) if lsb.size else 0,
        "board_decisions": len(on_board), "host_decisions": len(host),
        "decision_mismatches": mismatches(host, on_board),
        "windows_with_missing_modality": sum(bool(s.missing) for s in result.steps),
        "instructions_per_window": instruction_row(run), **size_row(run),
    }
    return counts, run, result
