"""The generated app (``tinyfuse.firmware.app_c``): its policy port against
``tinyfuse.apps.policy.step`` (host gcc, ctypes, random streams), its C hygiene, and the replay
parity of the emulated board's app with the host runner (``bench.app_c``)."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench import app_c as bench
from tinyfuse.apps import device_check
from tinyfuse.apps.policy import Policy, initial_state, step
from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import DeployError, ExportError
from tinyfuse.core.quant import dequantize
from tinyfuse.firmware import app_c
from tinyfuse.firmware.compiler import compile_bundle, runtime_dir

HAVE_ARM = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm"))
HAVE_RISCV = all(shutil.which(t) for t in ("riscv64-unknown-elf-gcc", "qemu-system-riscv32"))
MAX_ALERTS, MAX_N = app_c.MAX_ALERTS, app_c.MAX_N


class _Config(ctypes.Structure):
    _fields_ = [("n_classes", ctypes.c_int32), ("n_alerts", ctypes.c_int32),
                ("class_index", ctypes.POINTER(ctypes.c_int32)),
                ("on_q", ctypes.POINTER(ctypes.c_int16)),
                ("off_q", ctypes.POINTER(ctypes.c_int16)),
                ("confident_q", ctypes.POINTER(ctypes.c_int16)),
                ("on_level", ctypes.POINTER(ctypes.c_double)),
                ("output_scale", ctypes.c_double), ("output_zero_point", ctypes.c_int32),
                ("k", ctypes.c_int32), ("n", ctypes.c_int32), ("cooldown_s", ctypes.c_double),
                ("confirm_when_missing", ctypes.c_int32)]


class _State(ctypes.Structure):
    _fields_ = [("window", (ctypes.c_int8 * MAX_N) * MAX_ALERTS), ("count", ctypes.c_int32),
                ("head", ctypes.c_int32), ("active", ctypes.c_uint8 * MAX_ALERTS),
                ("has_last", ctypes.c_uint8 * MAX_ALERTS),
                ("last_s", ctypes.c_double * MAX_ALERTS)]


class _Decision(ctypes.Structure):
    _fields_ = [("fired", ctypes.c_int32), ("alert", ctypes.c_int32), ("label", ctypes.c_int32),
                ("q", ctypes.c_int32), ("score", ctypes.c_float), ("hits", ctypes.c_int32),
                ("needs_confirmation", ctypes.c_int32), ("reason", ctypes.c_int32)]


@pytest.fixture(scope="module")
def policy_lib(tmp_path_factory) -> ctypes.CDLL:
    library = tmp_path_factory.mktemp("policy") / "libtf_policy.so"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                    str(runtime_dir() / "tf_policy.c"), "-o", str(library)], check=True)
    return ctypes.CDLL(str(library))


def _c_config(policy: Policy, scale: float, zero_point: int) -> tuple[_Config, list]:
    def q_levels(values):
        return (ctypes.c_int16 * len(values))(*[app_c.level_q(v, scale=scale,
                                                              zero_point=zero_point)
                                                for v in values])

    keep = [(ctypes.c_int32 * len(policy.alert_classes))(
                *[policy.classes.index(c) for c in policy.alert_classes]),
            q_levels(policy.on_levels), q_levels(policy.off), q_levels(policy.confident),
            (ctypes.c_double * len(policy.on_levels))(*policy.on_levels)]
    config = _Config(len(policy.classes), len(policy.alert_classes), *keep, scale, zero_point,
                     policy.k, policy.n, policy.cooldown_s, int(policy.confirm_when_missing))
    return config, keep


def _random_policy(rng: np.random.Generator) -> Policy:
    classes = tuple(f"c{i}" for i in range(int(rng.integers(1, 5))))
    alert = tuple(c for c in classes if rng.random() < 0.7) or classes[:1]
    on = [float(rng.choice([0.5, 0.25, rng.uniform(0.05, 0.95)])) for _ in alert]
    off = [max(0.0, v - float(rng.choice([0.0, 0.1, rng.uniform(0, 0.3)]))) for v in on]
    confident = [min(1.0, v + float(rng.choice([0.0, 0.2]))) for v in on]
    n = int(rng.integers(1, 6))
    return Policy(classes=classes, alert_classes=alert, on_levels=tuple(on),
                  off_levels=tuple(off), confident_levels=tuple(confident),
                  k=int(rng.integers(1, n + 1)), n=n,
                  cooldown_s=float(rng.choice([0.0, 1.0, 2.5, 7.0])),
                  confirm_when_missing=bool(rng.random() < 0.5))


def test_level_q_is_the_first_int8_value_reaching_the_level():
    scale, zero_point = 1.0 / 256.0, -128
    values = dequantize(np.arange(-128, 128), scale=scale, zero_point=zero_point)
    for level in (0.0, 0.5, 0.123, 0.99609375, 0.9961, 1.5, -1.0):
        q = app_c.level_q(level, scale=scale, zero_point=zero_point)
        assert all((values[i + 128] >= level) == (i >= q) for i in range(-128, 128))
    assert app_c.level_q(2.0, scale=scale, zero_point=zero_point) == 128


def test_the_c_policy_decides_as_policy_step_on_random_streams(policy_lib, rng):
    """Random policies and int8 score streams (ties and repeated values are common: that
    exercises the tie-breaks), random missing windows and stream times."""
    policy_lib.tf_policy_step.restype = ctypes.c_int
    decisions = 0
    for _ in range(300):
        policy = _random_policy(rng)
        scale = float(rng.choice([1.0 / 256.0, rng.uniform(0.001, 0.02)]))
        zero_point = int(rng.choice([-128, int(rng.integers(-128, 0))]))
        config, _keep = _c_config(policy, scale, zero_point)
        state, c_state = initial_state(policy), _State()
        policy_lib.tf_policy_reset(ctypes.byref(c_state))
        now_s = 0.0
        for _ in range(40):
            now_s += float(rng.choice([0.5, 1.0, 3.0]))
            q = rng.integers(-128, 128, len(policy.classes)).astype(np.int8)
            if rng.random() < 0.5:
                q = np.where(rng.random(q.shape) < 0.5, q, 127).astype(np.int8)
            gone = ("m",) if rng.random() < 0.2 else ()
            state, want = step(policy, state, dequantize(q, scale=scale, zero_point=zero_point),
                               now_s=now_s, missing=gone)
            got = _Decision()
            scores = (ctypes.c_int8 * len(q))(*q.tolist())
            assert policy_lib.tf_policy_step(ctypes.byref(config), ctypes.byref(c_state),
                                             scores, ctypes.c_double(now_s), int(bool(gone)),
                                             ctypes.byref(got)) == 0
            assert bool(got.fired) == (want is not None)
            if want is None:
                continue
            decisions += 1
            assert (policy.classes[got.label], got.hits, bool(got.needs_confirmation)) == (
                want.label, want.hits, want.needs_confirmation)
            assert np.float32(got.score) == np.float32(want.score)
    assert decisions > 500


def test_the_generated_c_is_warning_free_on_the_host(bundle_dir, tmp_path):
    bundle = Bundle.read(bundle_dir)
    app = app_c.generate_app(bundle)
    app_c.write_app(app, tmp_path)
    compile_bundle(bundle).write(tmp_path)
    for name in [n for n in app.files if n.endswith(".c")] + ["model.c"]:
        subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                        f"-I{tmp_path}", f"-I{runtime_dir()}", "-c", str(tmp_path / name),
                        "-o", "/dev/null"], check=True)
    (tmp_path / "caller.cpp").write_text('#include "tinyfuse_app.h"\n'
                                         "int main() { return tinyfuse_app_init(); }\n")
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-fsyntax-only", f"-I{tmp_path}",
                    f"-I{runtime_dir()}", str(tmp_path / "caller.cpp")], check=True)
    assert f'#define TINYFUSE_APP_BUNDLE_HASH "{bundle.bundle_hash}"' in app.files[
        "tinyfuse_app.h"]
    assert app.window_bytes == 16 + 4 * (8 * 8 + 16 * 16)


def test_a_bundle_without_a_policy_is_refused(bundle_dir):
    bundle = Bundle.read(bundle_dir)
    bare = Bundle(app=bundle.app, classes=bundle.classes, inputs=bundle.inputs,
                  output=bundle.output, tflite=bundle.tflite)
    with pytest.raises(ExportError, match="no policy"):
        app_c.generate_app(bare)


def _check_records(run: app_c.AppRun, bundle: Bundle) -> None:
    for line in run.lines:
        assert " " not in line
        record = json.loads(line)
        assert tuple(record) == app_c.RECORD_FIELDS
        assert record["bundle"] == bundle.bundle_hash[:12]
        assert record["label"] in bundle.classes
        assert record["state"] in ("raised", "awaiting")
        assert set(record["missing"]) <= set(bundle.modalities)


@pytest.mark.slow
@pytest.mark.parametrize("board", [
    pytest.param("mps2-an386", marks=pytest.mark.skipif(not HAVE_ARM, reason="no Arm tools")),
    # the UART board: its records and result files travel over USART1
    pytest.param("netduinoplus2", marks=pytest.mark.skipif(not HAVE_ARM,
                                                           reason="no Arm tools")),
    pytest.param("riscv32-virt", marks=pytest.mark.skipif(not HAVE_RISCV,
                                                          reason="no RISC-V tools")),
])
def test_the_board_app_replays_the_host_run(bundle_dir, tmp_path, board):
    """Host ``run_stream`` vs the emulated board's app on one stream with missing and faulty
    windows: int8 inputs, scores and decisions agree."""
    bundle = Bundle.read(bundle_dir)
    policy = bench.demo_policy(bundle)
    counts, run = bench.replay_parity(bundle, policy=policy, stream=bench.demo_stream(),
                                      board=board, work_dir=tmp_path)
    # bit-exact stages: same C features -> same int8; same int8 inputs -> same scores; same
    # scores -> same decisions
    assert counts["inputs_differing_same_c_features"] == 0
    assert counts["scores_differing_same_inputs"] == 0
    assert counts["policy_replay_mismatches"] == 0
    # end to end (image front-ends agree with Python closely enough here: no int8 flips)
    assert counts["inputs_differing_host_python_features"] == 0
    assert counts["decision_mismatches"] == 0
    assert counts["board_decisions"] == counts["host_decisions"] >= 2
    assert counts["windows_with_missing_modality"] >= 5
    assert any(r["missing"] for r in run.records)
    _check_records(run, bundle)
    assert run.instructions.shape == (counts["windows"], 3) and (run.instructions > 0).all()
    if board == "netduinoplus2":
        (uart,) = Path(tmp_path).rglob("uart.txt")
        assert "records.jsonl:" in uart.read_text().splitlines()


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ARM, reason="arm-none-eabi-gcc / qemu-system-arm not installed")
def test_the_app_refuses_a_model_of_another_bundle(bundle_dir, tmp_path):
    bundle = Bundle.read(bundle_dir)
    windows = device_check.windows_of(bundle, bench.demo_stream(n_per_class=1))
    with pytest.raises(DeployError, match="(?s)exited with 30.*bundle hash is not the app's"):
        app_c.run_app_on_qemu(bundle, windows, work_dir=tmp_path, app_hash="0" * 64)
    line = (Path(tmp_path) / "run" / "records.jsonl").read_text()
    assert json.loads(line) == {"error": "bundle hash", "app": "0" * 12,
                                "model": bundle.bundle_hash[:12]}


@pytest.fixture(scope="module")
def host_app(bundle_dir, tmp_path_factory) -> app_c.HostApp:
    bundle = Bundle.read(bundle_dir)
    return app_c.HostApp(app_c.generate_app(bundle, policy=bench.demo_policy(bundle)),
                         compile_bundle(bundle), tmp_path_factory.mktemp("host_app"))


def test_the_c_quantisation_rounds_as_the_host(host_app, rng):
    """Half-LSB boundaries, values just beside them (where ``a + 0.5f`` in float would round
    wrongly), saturation, negative zero points."""
    from tinyfuse.core.quant import quantize

    halves = np.arange(-300, 300) + 0.5
    tricky = np.concatenate([halves, np.nextafter(halves.astype(np.float32), np.float32(0)),
                             np.nextafter(halves.astype(np.float32), np.float32(1e9)),
                             [0.49999997, -0.49999997, 0.0, -0.0, 1e30, -1e30],
                             rng.normal(0, 60, 2000)]).astype(np.float32)
    for scale, zero_point in ((1.0, 0), (0.0371, -5), (0.5, 127), (2.0, -128)):
        want = quantize(tricky * np.float32(scale), scale=scale, zero_point=zero_point)
        got = [host_app.quantize(float(v), scale=scale, zero_point=zero_point)
               for v in (tricky * np.float32(scale))]
        assert np.array_equal(np.array(got, np.int8), want)


def test_the_host_compiled_app_replays_the_host_run(bundle_dir, host_app, tmp_path):
    """The same comparison as on a board, with the app compiled by the host's gcc: runs
    without the cross tools."""
    bundle = Bundle.read(bundle_dir)
    policy, stream = bench.demo_policy(bundle), bench.demo_stream()
    result, host_inputs = device_check.host_run(bundle, policy, stream, tmp_path / "outbox")
    run = host_app.run(device_check.windows_of(bundle, stream))
    assert all(np.array_equal(np.concatenate([a.reshape(-1) for a in h]), np.concatenate(b))
               for h, b in zip(host_inputs, run.inputs, strict=True))
    assert [(r["t"], r["label"]) for r in run.records] == [
        (a.decision.time_s, a.decision.label) for a in result.alerts.values()]
    assert {r["reason"] for r in run.records} == {"confident", "uncertain", "missing"}
    _check_records(run, bundle)


def test_the_host_compiled_app_refuses_another_bundles_model(bundle_dir, tmp_path):
    bundle = Bundle.read(bundle_dir)
    other = app_c.HostApp(app_c.generate_app(bundle, app_hash="0" * 64),
                          compile_bundle(bundle), tmp_path)
    assert other.init() == -2
    with pytest.raises(DeployError, match="another bundle"):
        other.run(device_check.windows_of(bundle, bench.demo_stream(n_per_class=1)))
