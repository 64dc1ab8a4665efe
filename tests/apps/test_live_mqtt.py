"""Live sensors over MQTT (``sensors.sources.align``, ``sensors.sources.live_mqtt``,
``tinyfuse run --source mqtt://...``): the alignment rules on hand-made timestamps, the payload
decoder's bounds and refusals, then frames of the posture bundle (``bundle_dir`` in
conftest.py: thermal 8x8 + depth 16x16) published at two rates through a real mosquitto broker:
the samples assembled, score parity with the replayed samples, dropped frames counted, a
sensor that stops becoming a missing modality."""

from __future__ import annotations

import base64
import doctest
import json
import struct
import threading
import time

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.apps.mosquitto import Broker, broker, free_port, wait_for
from tinyfuse.apps.alerts import LocalOutbox
from tinyfuse.apps.cli import main
from tinyfuse.apps.confirm import Confirmations, QueueConfirm
from tinyfuse.apps.policy import Policy
from tinyfuse.apps.runner import replay, run_stream
from tinyfuse.apps.scoring import HostScorer, load_bundle
from tinyfuse.core.errors import DataError
from tinyfuse.sensors.preprocess import Preprocessor
from tinyfuse.sensors.simulate import simulate_posture
from tinyfuse.sensors.sources import align, live_mqtt
from tinyfuse.sensors.sources.align import Frame, FrameAligner
from tinyfuse.sensors.sources.live_mqtt import (
    FrameError,
    LiveMqttSource,
    decode_frame,
    encode_frame,
    parse_source_url,
)
from tinyfuse.sensors.spec import ImageSpec, ModalitySpec, VibrationSpec

__all__ = ["broker"]

THERMAL = ModalitySpec(name="thermal", frontend=ImageSpec(height=8, width=8))
VIBRATION = ModalitySpec(name="vibration", frontend=VibrationSpec(
    sample_rate_hz=1000.0, window_s=0.1, fmax_hz=400.0))
TOPIC = "lab/room1"


def test_docstring_examples_run():
    for module in (align, live_mqtt):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__


# --- alignment, hand-made timestamps ------------------------------------------------------------

def _frame(name: str, time_s: float, value: float = 0.0) -> Frame:
    return Frame(modality=name, time_s=time_s, data=np.full((2, 2), value, np.float32))


def _feed(aligner: FrameAligner, frames: list[tuple[str, float]]) -> list:
    readings = [aligner.push(_frame(name, t, t)) for name, t in frames]
    return [r for r in readings if r is not None]


def test_multi_rate_frames_make_one_reading_per_slow_frame_with_the_matching_fast_one():
    aligner = FrameAligner(("thermal", "depth"), align_s=0.1, stale_s=2.0)
    frames = []
    for k in range(4):  # thermal 8 Hz, depth 2 Hz, each depth frame after its thermal one
        time_s = 10 + k * 0.5
        frames += [("thermal", time_s), ("depth", time_s), ("thermal", time_s + 0.125),
                   ("thermal", time_s + 0.25), ("thermal", time_s + 0.375)]
    readings = _feed(aligner, frames)
    assert [r.time_s for r in readings] == [10.0, 10.5, 11.0, 11.5]
    for reading in readings:
        assert reading.missing == ()
        assert {n: f.time_s for n, f in reading.frames.items()} == {
            "thermal": reading.time_s, "depth": reading.time_s}


def test_a_lagging_modality_is_matched_to_the_frame_nearest_its_time():
    aligner = FrameAligner(("thermal", "depth"), align_s=0.1, stale_s=5.0)
    # depth frames arrive 0.5 s (two thermal frames) after the thermal frame of their time
    frames = [("thermal", 0.0), ("thermal", 0.25)]
    for i in range(2, 12):
        frames.append(("thermal", 0.25 * i))
        if i % 2 == 0:
            frames.append(("depth", 0.25 * (i - 2)))
    readings = _feed(aligner, frames)
    assert [r.time_s for r in readings] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert all(r.frames["thermal"].time_s == r.frames["depth"].time_s for r in readings)


def test_frames_further_apart_than_align_s_wait_for_a_closer_one():
    aligner = FrameAligner(("thermal", "depth"), align_s=0.05, stale_s=5.0)
    assert _feed(aligner, [("thermal", 1.0), ("depth", 1.2)]) == []
    [reading] = _feed(aligner, [("thermal", 1.21)])
    assert (reading.frames["thermal"].time_s, reading.frames["depth"].time_s) == (1.21, 1.2)


def test_a_sensor_that_stops_becomes_missing_and_comes_back():
    aligner = FrameAligner(("thermal", "depth"), align_s=0.1, stale_s=0.9)
    frames = [(name, t / 2) for t in range(4) for name in ("thermal", "depth")]  # 0 .. 1.5 s
    both = _feed(aligner, frames)
    assert [r.missing for r in both] == [()] * 4
    alone = _feed(aligner, [("thermal", 2.0), ("thermal", 2.5), ("thermal", 3.0)])
    assert [(r.time_s, r.missing, sorted(r.frames)) for r in alone] == [
        (2.5, ("depth",), ["thermal"]), (3.0, ("depth",), ["thermal"])]  # 2.0: not yet stale
    assert aligner.stale() == ("depth",)
    back = _feed(aligner, [("depth", 3.5), ("thermal", 3.5)])
    assert [(r.time_s, r.missing) for r in back] == [(3.5, ())]


def test_a_sensor_never_heard_from_is_missing_after_stale_s():
    aligner = FrameAligner(("thermal", "depth"), align_s=0.1, stale_s=1.0)
    readings = _feed(aligner, [("thermal", 100.0 + 0.25 * i) for i in range(7)])
    assert [r.time_s for r in readings] == [101.25, 101.5]
    assert all(r.missing == ("depth",) for r in readings)


def test_late_and_repeated_frames_are_refused_and_tolerances_follow_the_rates():
    aligner = FrameAligner(("thermal", "depth"))
    assert (aligner.align_s, aligner.stale_s) == (1.0, 3.0)  # nothing known yet
    _feed(aligner, [("thermal", 0.0), ("depth", 0.0), ("thermal", 0.25), ("thermal", 0.5),
                    ("depth", 0.5), ("depth", 1.0)])
    assert aligner.slowest_period_s() == 0.5
    assert (aligner.align_s, aligner.stale_s) == (0.25, 1.5)
    for time_s in (1.0, 0.5):
        with pytest.raises(DataError, match="not newer than the last one"):
            aligner.push(_frame("depth", time_s))
    with pytest.raises(DataError, match="not one of"):
        aligner.push(_frame("audio", 2.0))
    with pytest.raises(DataError, match="not finite"):
        aligner.push(_frame("depth", float("nan")))
    with pytest.raises(DataError, match="align_s"):
        FrameAligner(("a",), align_s=0.0)
    with pytest.raises(DataError, match="distinct"):
        FrameAligner(("a", "a"))


# --- payloads -----------------------------------------------------------------------------------

def _payload(**fields) -> bytes:
    record = {"schema": 1, "t": time.time(), "shape": [8, 8], "dtype": "float32",
              "data": [[20.0] * 8] * 8}
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not None}).encode()


def test_payload_base64_and_list_forms_decode_to_the_same_frame():
    values = np.arange(64, dtype=np.float32).reshape(8, 8) / 4 + 15
    packed = base64.b64encode(struct.pack("<64f", *values.ravel())).decode()  # by hand
    by_hand = decode_frame(_payload(data=packed, t=1764700000.5), modality=THERMAL,
                           topic="lab/room1/thermal")
    as_list = decode_frame(_payload(data=values.tolist(), dtype=None), modality=THERMAL,
                           topic="lab/room1/thermal")
    encoded = decode_frame(encode_frame(values, time_s=5.0), modality=THERMAL, topic="x")
    for frame in (by_hand, as_list, encoded):
        assert frame.data.dtype == np.float32
        np.testing.assert_array_equal(frame.data, values)
    assert (by_hand.modality, by_hand.time_s, by_hand.rate_hz) == ("thermal", 1764700000.5, None)
    waveform = np.zeros((100, 1), np.float32)
    frame = decode_frame(encode_frame(waveform, time_s=5.0, rate_hz=1000.0, as_list=True),
                         modality=VIBRATION, topic="x")
    assert frame.rate_hz == 1000.0 and frame.data.shape == (100, 1)


def test_an_oversize_frame_is_refused_before_anything_is_allocated(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("decoded an oversize frame")

    monkeypatch.setattr(live_mqtt.base64, "b64decode", never)
    monkeypatch.setattr(live_mqtt.np, "frombuffer", never)
    claim = _payload(shape=[4096, 4096], data="AAAA")  # a small payload claiming 16 M values
    with pytest.raises(FrameError, match=r"lab/room1/thermal: shape \[4096, 4096\] refused "
                       r"before allocating \(at most 1024 values") as caught:
        decode_frame(claim, modality=THERMAL, topic="lab/room1/thermal")
    assert caught.value.reason == "too_large"
    monkeypatch.setattr(live_mqtt.json, "loads", never)
    with pytest.raises(FrameError, match="bytes refused unread") as caught:
        decode_frame(b" " * 40_000, modality=THERMAL, topic="lab/room1/thermal")
    assert caught.value.reason == "too_large"


@pytest.mark.parametrize(("payload", "reason", "words"), [
    (b"{not json", "bad_json", "not a JSON frame"),
    (b"[1, 2]", "bad_json", "must be a JSON object"),
    (b"[" * 3000 + b"]" * 3000, "bad_json", "not a JSON frame"),
    (_payload(schema=2), "bad_field", "schema 2 is not 1"),
    (_payload(t="now"), "bad_field", "seconds since the epoch"),
    (b'{"schema": 1, "t": 1' + b"0" * 400 + b"}", "bad_field", "seconds since the epoch"),
    (_payload(t=1.0), "clock", "from this clock"),
    (_payload(dtype="int16"), "bad_field", "not float32"),
    (_payload(shape=[64]), "bad_shape", "a list of 2 positive integers"),
    (_payload(shape=[8, 0]), "bad_shape", "positive integers"),
    (_payload(data="!" * 344), "bad_data", "is not base64"),
    (_payload(data="AAAA"), "bad_data", "344"),
    (_payload(data=[[1.0, 2.0], [3.0]]), "bad_data", "not numbers of one shape"),
    (_payload(data=[1.0] * 63), "bad_data", "holds 63 values"),
    (_payload(data=None), "bad_data", "base64 string or a list"),
    (_payload(data=[float("nan")] + [1.0] * 63), "not_finite", "1 NaN or infinite"),
    (_payload(data=[1e39] * 64), "not_finite", "64 NaN or infinite"),
])
def test_malformed_frames_are_refused_in_one_line_naming_the_topic(payload, reason, words):
    with pytest.raises(FrameError) as caught:
        decode_frame(payload, modality=THERMAL, topic="lab/room1/thermal", now_s=time.time())
    message = str(caught.value)
    assert caught.value.reason == reason and words in message, message
    assert message.startswith("lab/room1/thermal: ") and "\n" not in message


def test_a_vibration_frame_must_come_at_the_front_ends_rate():
    payload = encode_frame(np.zeros(100, np.float32), time_s=5.0, rate_hz=1200.0)
    with pytest.raises(FrameError, match="not the front-end's 1000 Hz"):
        decode_frame(payload, modality=VIBRATION, topic="x")


def test_source_urls():
    assert parse_source_url("mqtt://127.0.0.1:1884/plant/pump1") == ("127.0.0.1", 1884,
                                                                     "plant/pump1")
    assert parse_source_url("mqtt://broker.local/room/") == ("broker.local", 1883, "room")
    for bad in ("mqtt://host:1883", "mqtt://host:x/t", "mqtt://:1883/t", "tcp://h:1/t",
                "mqtt://h:1/a/+", "mqtt://h:1/a/#", "mqtt://h:99999/t", "mqtt://h:1/a//b"):
        with pytest.raises(DataError, match="expected mqtt://HOST:PORT/TOPIC"):
            parse_source_url(bad)


# --- through a real broker ----------------------------------------------------------------------

class Publisher:
    """A sensor gateway: QoS 1 frames on TOPIC/<modality>, in order, each acknowledged."""

    def __init__(self, port: int, *, login: tuple[str, str] | None = None) -> None:
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  protocol=mqtt.MQTTv311)
        if login:
            self.client.username_pw_set(*login)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def send(self, modality: str, payload: bytes) -> None:
        self.client.publish(f"{TOPIC}/{modality}", payload, qos=1).wait_for_publish(5.0)

    def frame(self, modality: str, array: np.ndarray, time_s: float) -> None:
        self.send(modality, encode_frame(array, time_s=time_s))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    return load_bundle(bundle_dir)


@pytest.fixture(scope="module")
def frames():
    """Twelve posture samples (three per class) as float32 frames."""
    return list(simulate_posture(n_per_class=3, n_people=1, seed=7).samples)


def _publish(publisher: Publisher, samples: list, *, start_s: float, period_s: float = 0.5,
             depth_until: int | None = None) -> None:
    """Thermal at twice the depth rate: per sample k at t_k, its thermal frame, its depth frame
    (unless k >= depth_until), then a decoy thermal frame (another sample's) at t_k + period/2
    that must never be matched to a depth frame."""
    for k, sample in enumerate(samples):
        time_s = start_s + k * period_s
        publisher.frame("thermal", sample.data["thermal"], time_s)
        if depth_until is None or k < depth_until:
            publisher.frame("depth", sample.data["depth"], time_s)
        decoy = samples[(k + 5) % len(samples)].data["thermal"]
        publisher.frame("thermal", decoy, time_s + period_s / 2)


def _confirmations() -> Confirmations:
    return Confirmations(QueueConfirm(), timeout_s=60.0)


def test_live_frames_at_two_rates_score_exactly_like_the_replayed_samples(
        bundle, frames, broker, tmp_path):
    modalities = Preprocessor.from_bundle(bundle).modalities
    source = LiveMqttSource(host="127.0.0.1", port=broker.port, topic=TOPIC,
                            modalities=modalities, align_s=0.1, idle_s=5.0, limit=len(frames))
    publisher = Publisher(broker.port)
    try:
        source.start()
        wait_for(source.subscribed.is_set, what="the source's SUBACK")
        start_s = time.time()
        _publish(publisher, frames, start_s=start_s)
        seen: list = []

        def tap(stream):
            for time_s, sample in stream:
                seen.append(sample)
                yield time_s, sample

        scorer = HostScorer(bundle)
        policy = Policy(classes=bundle.classes, alert_classes=("lying",), on_levels=(0.5,))
        live = run_stream(tap(source), scorer=scorer, policy=policy,
                          sink=LocalOutbox(tmp_path / "live"), device="room1",
                          confirmations=_confirmations())
        wait_for(lambda: source.summary()["frames_received"] == 3 * len(frames),
                 what="the last decoy frame")
    finally:
        publisher.close()
        source.close()
    replayed = run_stream(replay(frames, period_s=0.5, start_s=start_s), scorer=scorer,
                          policy=policy, sink=LocalOutbox(tmp_path / "replay"), device="room1",
                          confirmations=_confirmations())
    assert [s.time_s for s in live.steps] == [start_s + 0.5 * k for k in range(len(frames))]
    assert [s.scores for s in live.steps] == [s.scores for s in replayed.steps]
    assert [s.decision for s in live.steps] == [s.decision for s in replayed.steps]
    assert all(not s.missing for s in live.steps)
    for sample, original in zip(seen, frames, strict=True):
        for name in ("thermal", "depth"):
            np.testing.assert_array_equal(sample.data[name], original.data[name])
            assert sample.meta_value(f"{name}.time_s") == sample.meta_value("time_s")
    summary = source.summary()
    assert summary["frames_received"] == summary["frames_accepted"] == 3 * len(frames)
    assert (summary["samples"], summary["frames_dropped"], summary["ended_by"]) == (
        len(frames), 0, "limit")


class DepthScorer:
    """Scores "lying" high exactly when the depth input is all zero point (missing), else
    "standing": the decision shows whether the live source passed depth as missing."""

    def __init__(self, bundle) -> None:
        self.bundle = bundle

    def score(self, inputs):
        depth_missing = bool((inputs[1] == self.bundle.inputs[1].zero_point).all())
        scores = np.full(len(self.bundle.classes), 0.05, np.float32)
        scores[self.bundle.classes.index("lying" if depth_missing else "standing")] = 0.85
        return scores


def test_a_depth_camera_that_stops_is_scored_as_missing_and_the_decision_says_so(
        bundle, frames, broker, tmp_path):
    source = LiveMqttSource(host="127.0.0.1", port=broker.port, topic=TOPIC,
                            modalities=Preprocessor.from_bundle(bundle).modalities,
                            align_s=0.1, stale_s=0.9, idle_s=0.5)
    publisher = Publisher(broker.port)
    try:
        source.start()
        wait_for(source.subscribed.is_set, what="the source's SUBACK")
        start_s = time.time()
        _publish(publisher, frames, start_s=start_s, depth_until=6)  # depth dies at 3.0 s
        policy = Policy(classes=bundle.classes, alert_classes=("lying",), on_levels=(0.5,),
                        k=2, n=3)
        result = run_stream(source, scorer=DepthScorer(bundle), policy=policy,
                            sink=LocalOutbox(tmp_path), device="room1",
                            confirmations=_confirmations())
    finally:
        publisher.close()
        source.close()
    missing = [(round(s.time_s - start_s, 3), s.missing) for s in result.steps]
    # 0 .. 2.5 s both; nothing until depth is more than 0.9 s stale (3.5 s), then thermal
    # alone, at its own pace (the decoys too), with depth missing
    assert missing[:6] == [(k * 0.5, ()) for k in range(6)]
    assert missing[6:] == [(t, ("depth",)) for t in np.arange(3.5, 6.0, 0.25).tolist()]
    [alert] = result.alerts.values()
    assert alert.decision.label == "lying" and alert.decision.missing == ("depth",)
    assert alert.decision.needs_confirmation
    summary = source.summary()
    assert summary["missing_by_modality"] == {"depth": 10}
    assert summary["samples_with_missing"] == 10 and summary["ended_by"] == "idle"


@pytest.fixture
def sources(monkeypatch):
    """The LiveMqttSource objects the CLI makes, so a test can wait for their SUBACK."""
    made: list[LiveMqttSource] = []
    original = LiveMqttSource.__init__

    def init(self, **kwargs):
        original(self, **kwargs)
        made.append(self)

    monkeypatch.setattr(LiveMqttSource, "__init__", init)
    return made


def test_cli_run_from_mqtt_drops_bad_frames_with_a_warning_and_counts_them(
        bundle_dir, frames, broker, sources, tmp_path, caplog, capsys):
    out = tmp_path / "run"
    publisher = Publisher(broker.port)

    def sensors() -> None:
        wait_for(lambda: bool(sources) and sources[0].subscribed.is_set(), timeout_s=20.0,
                 what="the CLI's source")
        start_s = time.time()
        publisher.send("thermal", b"{not json")
        publisher.send("depth", _payload(shape=[4096, 4096], data="AAAA"))  # oversize
        publisher.send("depth", _payload(shape=[16, 16], data="!" * 1368))  # bad base64
        publisher.send("thermal", _payload(data=[float("nan")] * 64))
        publisher.send("humidity", _payload())  # not a modality of the bundle
        _publish(publisher, frames[:6], start_s=start_s)
        publisher.frame("depth", frames[0].data["depth"], start_s)  # repeated: late

    thread = threading.Thread(target=sensors, daemon=True)
    thread.start()
    try:
        code = main(["run", str(bundle_dir), "--source", f"mqtt://127.0.0.1:{broker.port}/"
                     f"{TOPIC}", "--out", str(out), "--align-s", "0.1", "--idle-s", "1"])
        thread.join(timeout=20)
    finally:
        publisher.close()
    assert code == 0
    summary = json.loads((out / "run_summary.json").read_text())
    live = summary["live_source"]
    assert summary["n_steps"] == live["samples"] == 6 and summary["source"].startswith("mqtt")
    assert live["dropped_by_reason"] == {"bad_json": 1, "too_large": 1, "bad_data": 1,
                                         "not_finite": 1, "unknown_topic": 1, "late": 1}
    assert live["frames_received"] == 6 + 18 and live["frames_accepted"] == 18
    assert (live["ended_by"], live["align_s"]) == ("idle", 0.1)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"
                and r.name.endswith("live_mqtt")]
    assert any(w.startswith(f"live source: {TOPIC}/depth: shape [4096, 4096] refused before "
                            f"allocating") for w in warnings), warnings
    assert any(f"{TOPIC}/humidity: not one of the bundle's modalities" in w for w in warnings)
    assert all("\n" not in w for w in warnings)
    printed = capsys.readouterr().out
    assert f"live source mqtt://127.0.0.1:{broker.port}/{TOPIC}: 24 frames, 18 used" in printed
    assert (out / "stream.png").is_file()


def test_cli_run_from_mqtt_refuses_bad_options_in_one_line(bundle_dir, tmp_path, capsys):
    port = free_port()  # nothing listens there
    base = ["run", str(bundle_dir), "--out", str(tmp_path)]
    for extra, words in (
            (["--source", "mqtt://127.0.0.1/"], "expected mqtt://HOST:PORT/TOPIC"),
            (["--idle-s", "3"], "go with --source mqtt://"),
            (["--source", f"mqtt://127.0.0.1:{port}/t", "--idle-s", "0"], "--idle-s"),
            (["--source", f"mqtt://127.0.0.1:{port}/t", "--drop-modality", "depth"],
             "a live sensor is missing when it stops publishing"),
            (["--source", f"mqtt://127.0.0.1:{port}/t", "--idle-s", "0.3"],
             "never connected to the broker")):
        try:
            code = main(base + extra)
        except SystemExit as stopped:  # a usage error from argparse
            code = stopped.code
        assert code == 2, extra
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(errors) == 1 and words in errors[0], (extra, errors)


def test_cli_run_from_mqtt_logs_in_with_the_brokers_options(bundle_dir, frames, sources,
                                                             tmp_path, capsys):
    secured = Broker(tmp_path / "broker", users={"site": "s3cret-pass"}).start()
    password = tmp_path / "password"
    publisher = None
    try:
        publisher = Publisher(secured.port, login=("site", "s3cret-pass"))
        base = ["run", str(bundle_dir), "--source", f"mqtt://127.0.0.1:{secured.port}/{TOPIC}",
                "--out", str(tmp_path / "run"), "--mqtt-username", "site",
                "--mqtt-password-file", str(password), "--idle-s", "5"]
        password.write_text("wrong\n")
        assert main(base) == 2
        assert "the broker refused the connection" in capsys.readouterr().err
        password.write_text("s3cret-pass\n")

        def sensors() -> None:
            wait_for(lambda: len(sources) == 2 and sources[1].subscribed.is_set(),
                     timeout_s=20.0, what="the CLI's source")
            _publish(publisher, frames[:3], start_s=time.time())

        thread = threading.Thread(target=sensors, daemon=True)
        thread.start()
        assert main([*base, "--limit", "2"]) == 0
        thread.join(timeout=20)
    finally:
        if publisher is not None:
            publisher.close()
        secured.stop()
    summary = json.loads((tmp_path / "run" / "run_summary.json").read_text())
    assert summary["n_steps"] == 2 and summary["live_source"]["ended_by"] == "limit"
