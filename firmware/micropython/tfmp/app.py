"""The board's main loop, wiring only: sensors -> front-ends -> standardise and quantise ->
model -> policy -> alerts (outbox + MQTT). ``main.py`` calls ``run``.

The model refuses to run when its weights file does not carry the hash of the bundle that
``config.json`` describes.
"""

import json

from . import frontends
from .alerts import Sender, client_from_config
from .clock import sleep_ms, ticks_diff, ticks_ms
from .model import Model, ModelError, dequantize, quantize
from .policy import Policy, State, step


def load(config_path="config.json", weights_path="model.tfw"):
    with open(config_path) as stream:
        config = json.load(stream)
    model = Model(weights_path)
    if not config["bundle_hash"].startswith(model.bundle_hash):
        raise ModelError("%s is for bundle %s..., %s describes %s..." % (
            weights_path, model.bundle_hash[:12], config_path, config["bundle_hash"][:12]))
    return config, model


def model_input(features, entry):
    """Float features (flat) -> int8: ``(x - mean) / std_scale`` over the last axis, then
    TFLite's quantisation with the input's scale and zero point."""
    mean, scale = entry["mean"], entry["std_scale"]
    count = len(mean)
    standard = [(features[i] - mean[i % count]) / scale[i % count]
                for i in range(len(features))]
    return quantize(standard, entry["scale"], entry["zero_point"])


def features_of(reading, shape, frontend, entry=None):
    """One reading -> float features (flat) for the input ``entry`` of ``config.json``."""
    kind = frontend["kind"]
    if kind == "image":
        return frontends.image_features(reading, shape[0], shape[1], frontend)
    if kind == "vibration":
        band = (entry or {}).get("filter") or {"sections": [], "zi": []}
        return frontends.vibration_features(reading, frontend, band["sections"], band["zi"])
    if kind == "audio":
        return frontends.audio_features(reading, frontend, (entry or {})["mel"])
    if kind == "vector":
        return list(reading)
    raise ModelError("front-end %r does not run on the board yet" % kind)


def scores_of(model, config, inputs):
    out = config["output"]
    return dequantize(model.run(inputs)[0], out["scale"], out["zero_point"])


def run(sensors, config_path="config.json", weights_path="model.tfw", period_ms=1000,
        steps=None):
    """Loop: read every sensor, score, decide, alert. ``sensors`` maps modality name ->
    driver (``drivers.Sensor``); a driver that returns None makes its modality missing
    (fed as zeros). ``steps`` bounds the loop (None: forever)."""
    config, model = load(config_path, weights_path)
    policy = Policy(config["policy"])
    state = State(policy)
    mqtt = config["mqtt"]
    sender = Sender(client_from_config(mqtt, config["app"]), config.get("outbox_dir", "outbox"),
                    config["app"], mqtt.get("device", "board"), config["bundle_hash"])
    last = ticks_ms()
    now_s = 0.0  # stream time: summed tick differences (ticks_ms itself wraps)
    done = 0
    while steps is None or done < steps:
        began = ticks_ms()
        now_s += ticks_diff(began, last) / 1000.0
        last = began
        inputs, missing = [], []
        for entry, tensor in zip(config["inputs"], model.inputs):
            reading = sensors[entry["name"]].read() if entry["name"] in sensors else None
            if reading is None:
                missing.append(entry["name"])
                inputs.append(bytes([entry["zero_point"] & 0xFF]) * tensor.size)
            else:
                features = features_of(reading, sensors[entry["name"]].shape,
                                       entry["frontend"], entry)
                inputs.append(model_input(features, entry))
        scores = scores_of(model, config, inputs)
        decision = step(policy, state, scores, now_s, missing)
        if decision is not None:
            sender.alert(decision)
        sender.flush()
        done += 1
        sleep_ms(max(0, period_ms - ticks_diff(ticks_ms(), began)))
    return sender
