"""The app on the device: ``tinyfuse_app.c``/``.h`` generated from a bundle, and its board runs.

Per window the generated app takes each sensor's raw samples (float32 buffers the caller
fills, ``tinyfuse_app_raw[i]``) through the modality's generated C front-end
(:mod:`tinyfuse.firmware.frontend_c`), standardises them with the bundle's stats, quantises
them with the bundle's input quantisation, runs ``tinyfuse_model_invoke`` and steps the
bundle's policy (``runtime/tf_policy.c``) on the int8 scores. Each decision becomes one alert
record, a compact JSON line (:data:`RECORD_FIELDS`)::

    {"t":12.000,"label":"lying","score":0.9961,"q":127,"hits":2,"state":"raised",
     "reason":"confident","bundle":"3f1c0a9b2d4e","missing":[]}

(one line, ``\\n`` terminated, no spaces; ``t`` the stream time in seconds with 3 decimals,
``score`` the dequantised score with 4 decimals, ``q`` its int8 value, ``state`` ``raised``
when nobody needs to be asked, ``awaiting`` when a person must confirm, ``reason``
``confident`` / ``uncertain`` / ``missing``, ``bundle`` the first 12 hex digits of the bundle
hash, ``missing`` the modalities absent or faulty in that window). Only decisions are written:
one line per alert event.

Arithmetic, and where it can differ from the host (``tinyfuse.sensors.preprocess``):

* standardisation is ``(x - mean) / scale`` in float32 and quantisation is
  ``clip(round_half_away(float32(x) / float32(scale)) + zero_point)``, as
  ``tinyfuse.core.quant.quantize``: bit-exact *given the same float features*;
* the float front-ends differ from the Python ones by their stated tolerances
  (``tests/firmware/test_frontend_c.py``); a feature whose standardised value lies within that
  difference of a rounding boundary ``(j + 0.5) * scale`` can come out one LSB apart;
* the policy is integer on the int8 scores (each level becomes the smallest int8 value whose
  dequantised score reaches it), plus the margin and the cooldown in double, as the host: the
  same int8 scores give the same decisions;
* only float32 arithmetic runs per element (a double would be soft-float on a
  single-precision FPU): the rounding uses the exact fraction ``a - trunc(a)`` and the fault
  limits are the nearest float32 inside the host's double limits, both exact.

A missing modality (its bit in the window's mask) and a sensor fault (a finite raw value
outside the range of ``sensor_fault`` in the host preprocessor) are fed as zeros after
standardisation, as the host does, and named in the record. ``tinyfuse_app_init`` refuses a
linked model whose ``tinyfuse_model_bundle_hash`` is not the app's.

The board harness is ``firmware/boards/harness/app_main.c``; :func:`run_app_on_qemu` builds
and runs it on any board of the table. On the UART board ``netduinoplus2`` the windows still
arrive by semihosting, and the result files (alert records included) travel over USART1 as
``harness/report_uart.c`` lines, which the host turns back into the same files.
:class:`HostApp` runs the same C compiled with the host's gcc.
"""

from __future__ import annotations

import ctypes
import json
import math
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyfuse.core.errors import DeployError, ExportError
from tinyfuse.core.policy import Policy
from tinyfuse.core.quant import dequantize

RECORD_FIELDS = ("t", "label", "score", "q", "hits", "state", "reason", "bundle", "missing")
HASH_PREFIX_CHARS = 12
MAX_ALERTS = 16  # TF_POLICY_MAX_ALERTS
MAX_N = 64       # TF_POLICY_MAX_N
APP_MAGIC = 0x50414654  # "TFAP"
WINDOW_HEADER_BYTES = 16  # double t_s, uint32 missing mask, uint32 reserved
HARNESS_SOURCE = "app_main.c"
# what app_main.c writes (a UART board sends them as harness/report_uart.c lines)
RESULT_FILES = frozenset({"records.jsonl", "inputs.bin", "scores.bin", "ticks.bin", "header.bin"})
APP_STATUS = {30: "the model's bundle hash is not the app's", 31: "the app failed on a window",
              10: "cannot open windows.bin", 11: "windows.bin length", 13: "cannot write"}
# host preprocessor's sensor-fault limits (tinyfuse.sensors.preprocess; not imported: layering)
AUDIO_LIMIT = 16.0
VIBRATION_LIMIT_G = 1.0e4
IMAGE_SPANS = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratedApp:
    """The generated C of one bundle's app: ``files`` (name -> text: ``tinyfuse_app.h``,
    ``tinyfuse_app.c`` and every ``tf_fe_<name>.h/.c``), the modality names, raw floats per
    modality, int8 input bytes per modality, the class names and the hash it expects."""

    files: dict[str, str]
    modalities: tuple[str, ...]
    raw_floats: tuple[int, ...]
    input_bytes: tuple[int, ...]
    classes: tuple[str, ...]
    bundle_hash: str

    @property
    def window_bytes(self) -> int:
        """Bytes of one window in ``windows.bin`` (header + raw float32 samples)."""
        return WINDOW_HEADER_BYTES + 4 * sum(self.raw_floats)


def _f32(value: float) -> str:
    """A C float literal that reads back as ``np.float32(value)``."""
    number = float(np.float32(value))
    if not math.isfinite(number):
        raise ExportError(f"app: non-finite constant {value!r}")
    return f"{number!r}f"


def _f64(value: float) -> str:
    if not math.isfinite(float(value)):
        raise ExportError(f"app: non-finite constant {value!r}")
    return repr(float(value))


def _c_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def level_q(level: float, *, scale: float, zero_point: int) -> int:
    """The smallest int8 ``q`` whose dequantised score (``tinyfuse.core.quant.dequantize``)
    reaches ``level``, 128 when none does: ``score >= level`` iff ``q >= level_q``."""
    values = dequantize(np.arange(-128, 128), scale=scale, zero_point=zero_point)
    reached = np.flatnonzero(values.astype(np.float64) >= float(level))
    return int(reached[0]) - 128 if reached.size else 128


def fault_range(frontend: Mapping[str, Any]) -> tuple[float, float] | None:
    """The raw range outside which the host calls a reading a sensor fault (None: no check)."""
    kind = frontend.get("kind")
    if kind == "audio":
        return -AUDIO_LIMIT, AUDIO_LIMIT
    if kind == "vibration":
        return -VIBRATION_LIMIT_G, VIBRATION_LIMIT_G
    if kind == "image":
        low, high = float(frontend["min_value"]), float(frontend["max_value"])
        span = high - low
        return low - IMAGE_SPANS * span, high + IMAGE_SPANS * span
    return None


def inside(limit: float, *, up: bool) -> float:
    """The float32 nearest ``limit`` on its inner side (``up``: the smallest float32 >=
    ``limit``; else the largest <= it): for a float32 ``x``, ``x < limit`` iff
    ``x < inside(limit, up=True)`` and ``x > limit`` iff ``x > inside(limit, up=False)``."""
    value = np.float32(limit)
    if up and float(value) < limit:
        value = np.nextafter(value, np.float32(np.inf))
    elif not up and float(value) > limit:
        value = np.nextafter(value, np.float32(-np.inf))
    return float(value)


def _array(ctype: str, name: str, values: Sequence[str]) -> str:
    return f"static const {ctype} {name}[] = {{{', '.join(values)}}};"


def _policy_tables(bundle: Any, policy: Policy) -> str:
    if tuple(policy.classes) != tuple(bundle.classes):
        raise ExportError(f"app: policy classes {list(policy.classes)} are not the bundle's "
                          f"{list(bundle.classes)}")
    if len(policy.alert_classes) > MAX_ALERTS or policy.n > MAX_N:
        raise ExportError(f"app: the C policy holds at most {MAX_ALERTS} alert classes and "
                          f"n <= {MAX_N}, the bundle has {len(policy.alert_classes)} and "
                          f"n={policy.n}")
    scale, zero_point = bundle.output.scale, bundle.output.zero_point

    def levels(values: Sequence[float]) -> list[str]:
        return [str(level_q(v, scale=scale, zero_point=zero_point)) for v in values]

    index = [str(policy.classes.index(name)) for name in policy.alert_classes]
    return "\n".join([
        _array("int32_t", "alert_class", index),
        _array("int16_t", "on_q", levels(policy.on_levels)),
        _array("int16_t", "off_q", levels(policy.off)),
        _array("int16_t", "confident_q", levels(policy.confident)),
        _array("double", "on_level", [_f64(v) for v in policy.on_levels]),
        "static const tf_policy_config policy_config = {",
        f"  {len(policy.classes)}, {len(policy.alert_classes)}, alert_class, on_q, off_q,",
        f"  confident_q, on_level, {_f64(scale)}, {int(zero_point)}, {policy.k}, {policy.n},",
        f"  {_f64(policy.cooldown_s)}, {int(policy.confirm_when_missing)}}};",
    ])


def _modality_c(index: int, item: Any, fe: Any) -> tuple[str, str]:
    """Buffers and tables of one modality; returns (definitions, initialiser row)."""
    name, floats = item.name, fe.output_floats
    if math.prod(item.shape) != floats:
        raise ExportError(f"app: front-end {name!r} makes {floats} values, the model input "
                          f"{item.shape} takes {math.prod(item.shape)}")
    if len(item.mean) != len(item.std_scale) or floats % len(item.mean):
        raise ExportError(f"app: standardisation of {name!r} ({len(item.mean)} values) does "
                          f"not divide its {floats} features")
    bounds = fault_range(item.frontend)
    low, high, check = (bounds[0], bounds[1], 1) if bounds else (0.0, 0.0, 0)
    defs = "\n".join([
        f"float tinyfuse_app_raw_{name}[{fe.input_floats}] TINYFUSE_APP_ALIGN;",
        f"static float feature_{name}[{floats}] TINYFUSE_APP_ALIGN;",
        f"int8_t tinyfuse_app_input_{name}[{floats}] TINYFUSE_APP_ALIGN;",
        _array("float", f"mean_{name}", [_f32(v) for v in item.mean]),
        _array("float", f"scale_{name}", [_f32(v) for v in item.std_scale]),
    ])
    row = (f"  {{tf_fe_{name}_run, tinyfuse_app_raw_{name}, feature_{name}, "
           f"tinyfuse_app_input_{name}, {fe.input_floats}, {floats}, mean_{name}, "
           f"scale_{name}, {len(item.mean)}, {_f32(item.scale)}, {int(item.zero_point)}, "
           f"{check}, {_f32(inside(low, up=True))}, {_f32(inside(high, up=False))}}},  "
           f"/* {index}: {name} */")
    return defs, row


def _header(bundle: Any, names: Sequence[str], raw: Sequence[int], sizes: Sequence[int],
            app_hash: str) -> str:
    raws = ", ".join(map(str, raw))
    title = f'the app of bundle {app_hash[:12]} ("{bundle.app}")'
    return f"""/* Generated by tinyfuse.firmware.app_c: {title}.
 * Do not edit. Per window: fill tinyfuse_app_raw[i] (tinyfuse_app_raw_floats[i] float32
 * samples of modality i), then tinyfuse_app_window(). See firmware/app_c.py for the record
 * framing and the arithmetic. */
#ifndef TINYFUSE_APP_H
#define TINYFUSE_APP_H

#include <stdint.h>

#include "tf_policy.h"

#ifdef __cplusplus
extern "C" {{
#endif

#define TINYFUSE_APP_BUNDLE_HASH {_c_string(app_hash)}
#define TINYFUSE_APP_NUM_MODALITIES {len(names)}
#define TINYFUSE_APP_NUM_CLASSES {len(bundle.classes)}
#define TINYFUSE_APP_RAW_FLOATS {sum(raw)}   /* {raws} */
#define TINYFUSE_APP_INPUT_BYTES {sum(sizes)}
#define TINYFUSE_APP_RECORD_BYTES 512   /* enough for one record line */

typedef enum {{
  TINYFUSE_APP_OK = 0,
  TINYFUSE_APP_BAD_ARGUMENT = -1,
  TINYFUSE_APP_HASH_MISMATCH = -2,  /* the linked model belongs to another bundle */
  TINYFUSE_APP_NOT_READY = -3,      /* tinyfuse_app_init did not succeed */
  TINYFUSE_APP_FRONTEND_FAILED = -4,
  TINYFUSE_APP_MODEL_FAILED = -5,
  TINYFUSE_APP_POLICY_FAILED = -6,
}} tinyfuse_app_status;

typedef struct {{
  tf_policy_decision policy;  /* fired, label, q, score, hits, reason */
  double time_s;
  uint32_t missing;           /* bit i: modality i absent or faulty in this window */
}} tinyfuse_app_decision;

extern const char tinyfuse_app_bundle_hash[];
extern const char *const tinyfuse_app_modalities[];
extern const char *const tinyfuse_app_labels[];
extern float *const tinyfuse_app_raw[];
extern const int32_t tinyfuse_app_raw_floats[];
extern int8_t *const tinyfuse_app_inputs[];     /* int8 model inputs of the last window */
extern const int32_t tinyfuse_app_input_bytes[];
extern int8_t tinyfuse_app_scores[];            /* int8 scores of the last window */

/* Checks the model's bundle hash against the app's and resets the policy. */
int tinyfuse_app_init(void);
/* The three stages of one window (tinyfuse_app_window runs them in turn). missing_mask:
 * bit i set when modality i has no reading in this window. */
int tinyfuse_app_features(uint32_t missing_mask);
int tinyfuse_app_infer(void);
int tinyfuse_app_decide(double now_s, tinyfuse_app_decision *decision);
int tinyfuse_app_window(double now_s, uint32_t missing_mask, tinyfuse_app_decision *decision);
/* tinyfuse.core.quant.quantize of one float32 (NaN gives zero_point). */
int8_t tinyfuse_app_quantize(float value, float scale, int32_t zero_point);
/* The record line of a fired decision into buffer (capacity bytes, '\\0' terminated);
 * returns its length without the terminator, or -1 when it does not fit. */
int32_t tinyfuse_app_record(const tinyfuse_app_decision *decision, char *buffer,
                            int32_t capacity);

#ifdef __cplusplus
}}
#endif

#endif
"""


def _source(bundle: Any, frontends: Sequence[Any], app_hash: str, policy: Policy) -> str:
    names = [item.name for item in bundle.inputs]
    parts, rows = [], []
    for index, (item, fe) in enumerate(zip(bundle.inputs, frontends, strict=True)):
        defs, row = _modality_c(index, item, fe)
        parts.append(defs)
        rows.append(row)
    includes = "\n".join(f'#include "tf_fe_{name}.h"' for name in names)
    raw_floats = ", ".join(str(fe.input_floats) for fe in frontends)
    input_bytes = ", ".join(str(fe.output_floats) for fe in frontends)
    return f"""/* Generated by tinyfuse.firmware.app_c: the app of bundle {app_hash[:12]}.
 * Do not edit. */
#include "tinyfuse_app.h"

#include "model.h"
{includes}

#define TINYFUSE_APP_ALIGN __attribute__((aligned(8)))

const char tinyfuse_app_bundle_hash[] = TINYFUSE_APP_BUNDLE_HASH;
const char *const tinyfuse_app_modalities[] = {{{', '.join(map(_c_string, names))}}};
const char *const tinyfuse_app_labels[] = {{{', '.join(map(_c_string, bundle.classes))}}};

{chr(10).join(parts)}

typedef struct {{
  int (*run)(const float *input, float *output);
  float *raw;
  float *feature;
  int8_t *input;
  int32_t raw_floats, floats;
  const float *mean, *scale;
  int32_t stats;
  float input_scale;
  int32_t zero_point;
  int32_t fault_check;
  float fault_low, fault_high;
}} app_modality;

static const app_modality modalities[TINYFUSE_APP_NUM_MODALITIES] = {{
{chr(10).join(rows)}
}};

float *const tinyfuse_app_raw[] = {{{', '.join(f'tinyfuse_app_raw_{n}' for n in names)}}};
const int32_t tinyfuse_app_raw_floats[] = {{{raw_floats}}};
int8_t *const tinyfuse_app_inputs[] = {{{', '.join(f'tinyfuse_app_input_{n}' for n in names)}}};
const int32_t tinyfuse_app_input_bytes[] = {{{input_bytes}}};
int8_t tinyfuse_app_scores[TINYFUSE_APP_NUM_CLASSES] TINYFUSE_APP_ALIGN;

{_policy_tables(bundle, policy)}
{_BODY}"""


_BODY = r"""
static tf_policy_state policy_state;
static uint32_t window_missing;
static int app_ready;

static int same_text(const char *a, const char *b) {
  while (*a != '\0' && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

int tinyfuse_app_init(void) {
  app_ready = same_text(tinyfuse_model_bundle_hash, tinyfuse_app_bundle_hash);
  tf_policy_reset(&policy_state);
  window_missing = 0u;
  return app_ready ? TINYFUSE_APP_OK : TINYFUSE_APP_HASH_MISMATCH;
}

/* The host's sensor_fault: a finite raw value outside [low, high]. fault_low / fault_high are
 * the float32 values nearest inside the host's double limits, so float compares give the same
 * answer as the host's double ones (no double arithmetic on the board). */
static int sensor_fault(const app_modality *m) {
  for (int32_t i = 0; i < m->raw_floats; i++) {
    float x = m->raw[i];
    int finite = x == x && x - x == 0.0f;
    if (finite && (x < m->fault_low || x > m->fault_high)) {
      return 1;
    }
  }
  return 0;
}

/* tinyfuse.core.quant.quantize: float32 division, round half away from zero, clip; in float
 * only (no double on a single-precision FPU), exact: the fraction a - trunc(a) of a float
 * below 2^23 is exact, so `frac >= 0.5f` is floor(a + 0.5) without the rounding of a + 0.5f. */
int8_t tinyfuse_app_quantize(float value, float scale, int32_t zero_point) {
  float ratio = value / scale;
  if (!(ratio == ratio)) {
    ratio = 0.0f;
  }
  ratio = ratio > 1000.0f ? 1000.0f : ratio < -1000.0f ? -1000.0f : ratio;
  float magnitude = ratio < 0.0f ? -ratio : ratio;
  int32_t whole = (int32_t)magnitude;
  whole += magnitude - (float)whole >= 0.5f ? 1 : 0;
  int32_t q = (ratio < 0.0f ? -whole : whole) + zero_point;
  return (int8_t)(q > 127 ? 127 : q < -128 ? -128 : q);
}

static void standardize_quantize(const app_modality *m, int present) {
  int32_t j = 0;
  for (int32_t i = 0; i < m->floats; i++) {
    float standard = present ? (m->feature[i] - m->mean[j]) / m->scale[j] : 0.0f;
    m->input[i] = tinyfuse_app_quantize(standard, m->input_scale, m->zero_point);
    j = j + 1 < m->stats ? j + 1 : 0;
  }
}

int tinyfuse_app_features(uint32_t missing_mask) {
  if (!app_ready) {
    return TINYFUSE_APP_NOT_READY;
  }
  window_missing = 0u;
  for (int32_t i = 0; i < TINYFUSE_APP_NUM_MODALITIES; i++) {
    const app_modality *m = &modalities[i];
    int present = (missing_mask & (1u << i)) == 0u;
    if (present && m->fault_check && sensor_fault(m)) {
      present = 0;
    }
    if (present && m->run(m->raw, m->feature) != 0) {
      return TINYFUSE_APP_FRONTEND_FAILED;
    }
    window_missing |= present ? 0u : 1u << i;
    standardize_quantize(m, present);
  }
  return TINYFUSE_APP_OK;
}

int tinyfuse_app_infer(void) {
  if (!app_ready) {
    return TINYFUSE_APP_NOT_READY;
  }
  const int8_t *in[TINYFUSE_APP_NUM_MODALITIES];
  int8_t *out[1] = {tinyfuse_app_scores};
  for (int32_t i = 0; i < TINYFUSE_APP_NUM_MODALITIES; i++) {
    in[i] = tinyfuse_app_inputs[i];
  }
  return tinyfuse_model_invoke(in, out) == 0 ? TINYFUSE_APP_OK : TINYFUSE_APP_MODEL_FAILED;
}

int tinyfuse_app_decide(double now_s, tinyfuse_app_decision *decision) {
  if (!app_ready) {
    return TINYFUSE_APP_NOT_READY;
  }
  if (decision == 0) {
    return TINYFUSE_APP_BAD_ARGUMENT;
  }
  decision->time_s = now_s;
  decision->missing = window_missing;
  int status = tf_policy_step(&policy_config, &policy_state, tinyfuse_app_scores, now_s,
                              window_missing != 0u, &decision->policy);
  return status == TF_POLICY_OK ? TINYFUSE_APP_OK : TINYFUSE_APP_POLICY_FAILED;
}

int tinyfuse_app_window(double now_s, uint32_t missing_mask, tinyfuse_app_decision *decision) {
  int status = tinyfuse_app_features(missing_mask);
  if (status == TINYFUSE_APP_OK) {
    status = tinyfuse_app_infer();
  }
  return status == TINYFUSE_APP_OK ? tinyfuse_app_decide(now_s, decision) : status;
}

/* ---- the record line ---- */
typedef struct {
  char *buffer;
  int32_t length, capacity;
} text_sink;

static void put_text(text_sink *sink, const char *text) {
  while (*text != '\0') {
    if (sink->length + 1 < sink->capacity) {
      sink->buffer[sink->length] = *text;
    }
    sink->length++;
    text++;
  }
}

static void put_unsigned(text_sink *sink, uint32_t value, int32_t min_digits) {
  char digits[11];
  int32_t count = 0;
  do {
    digits[count++] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value != 0u || count < min_digits);
  char text[12];
  for (int32_t i = 0; i < count; i++) {
    text[i] = digits[count - 1 - i];
  }
  text[count] = '\0';
  put_text(sink, text);
}

/* value with `decimals` decimals (rounded half up on the magnitude). */
static void put_fixed(text_sink *sink, double value, uint32_t unit, int32_t decimals) {
  if (value < 0.0) {
    put_text(sink, "-");
    value = -value;
  }
  double scaled = value * (double)unit + 0.5;
  uint32_t whole = scaled >= 4294967295.0 ? 4294967295u : (uint32_t)scaled;
  put_unsigned(sink, whole / unit, 1);
  put_text(sink, ".");
  put_unsigned(sink, whole % unit, decimals);
}

static void put_signed(text_sink *sink, int32_t value) {
  if (value < 0) {
    put_text(sink, "-");
  }
  put_unsigned(sink, (uint32_t)(value < 0 ? -value : value), 1);
}

static const char *const reason_names[] = {"confident", "uncertain", "missing"};

int32_t tinyfuse_app_record(const tinyfuse_app_decision *decision, char *buffer,
                            int32_t capacity) {
  if (decision == 0 || buffer == 0 || capacity < 1 || !decision->policy.fired) {
    return -1;
  }
  const tf_policy_decision *d = &decision->policy;
  char prefix[13];
  for (int32_t i = 0; i < 12; i++) {
    prefix[i] = tinyfuse_app_bundle_hash[i];
    if (prefix[i] == '\0') {
      break;
    }
  }
  prefix[12] = '\0';
  text_sink sink = {buffer, 0, capacity};
  put_text(&sink, "{\"t\":");
  put_fixed(&sink, decision->time_s, 1000u, 3);
  put_text(&sink, ",\"label\":\"");
  put_text(&sink, tinyfuse_app_labels[d->label]);
  put_text(&sink, "\",\"score\":");
  put_fixed(&sink, (double)d->score, 10000u, 4);
  put_text(&sink, ",\"q\":");
  put_signed(&sink, d->q);
  put_text(&sink, ",\"hits\":");
  put_signed(&sink, d->hits);
  put_text(&sink, d->needs_confirmation ? ",\"state\":\"awaiting\"" : ",\"state\":\"raised\"");
  put_text(&sink, ",\"reason\":\"");
  put_text(&sink, reason_names[d->reason]);
  put_text(&sink, "\",\"bundle\":\"");
  put_text(&sink, prefix);
  put_text(&sink, "\",\"missing\":[");
  int first = 1;
  for (int32_t i = 0; i < TINYFUSE_APP_NUM_MODALITIES; i++) {
    if ((decision->missing & (1u << i)) != 0u) {
      put_text(&sink, first ? "\"" : ",\"");
      put_text(&sink, tinyfuse_app_modalities[i]);
      put_text(&sink, "\"");
      first = 0;
    }
  }
  put_text(&sink, "]}\n");
  if (sink.length + 1 > capacity) {
    buffer[0] = '\0';
    return -1;
  }
  buffer[sink.length] = '\0';
  return sink.length;
}
"""


def generate_app(bundle: Any, *, sensor_shapes: Mapping[str, Sequence[int]] | None = None,
                 app_hash: str | None = None, policy: Policy | None = None) -> GeneratedApp:
    """The app of a ``tinyfuse.core.bundle.Bundle`` as C strings (no files written).

    Parameters
    ----------
    bundle : Bundle
        Front-ends, standardisation, input/output quantisation, classes and policy.
    sensor_shapes : mapping of str to (rows, cols), optional
        Image sensors whose grid is not the model grid.
    app_hash : str, optional
        The bundle hash the app expects of its model (default the bundle's: a test sets
        another to see the app refuse the model).
    policy : Policy, optional
        The policy to run (default the bundle's own; ``tinyfuse.apps.runner.bundle_policy``
        gives the ``[policy]`` defaults for a bundle that stores none).

    Raises
    ------
    ExportError
        No policy, a front-end without a C twin, or sizes that disagree.
    """
    from tinyfuse.firmware.frontend_c import generate_bundle

    if len(bundle.inputs) > 32:
        raise ExportError(f"app: at most 32 modalities (a 32-bit mask), got {len(bundle.inputs)}")
    chosen = policy if policy is not None else bundle.policy
    if chosen is None:
        raise ExportError("app: the bundle stores no policy; pass policy= "
                          "(tinyfuse.apps.runner.bundle_policy gives the defaults)")
    frontends = generate_bundle(bundle, sensor_shapes=sensor_shapes)
    expected = bundle.bundle_hash if app_hash is None else app_hash
    names = tuple(item.name for item in bundle.inputs)
    raw = tuple(fe.input_floats for fe in frontends)
    sizes = tuple(fe.output_floats for fe in frontends)
    files = {"tinyfuse_app.h": _header(bundle, names, raw, sizes, expected),
             "tinyfuse_app.c": _source(bundle, frontends, expected, chosen)}
    for fe in frontends:
        files.update(fe.files)
    return GeneratedApp(files=files, modalities=names, raw_floats=raw, input_bytes=sizes,
                        classes=tuple(bundle.classes), bundle_hash=expected)


def write_app(app: GeneratedApp, out_dir: str | Path) -> list[Path]:
    """Write every file of ``app`` into ``out_dir`` (created); returns the paths."""
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in app.files.items():
            (folder / name).write_text(text)
    except OSError as exc:
        raise ExportError(f"{folder}: cannot write the app: {exc}") from None
    return [folder / name for name in app.files]


# ------------------------------------------------------------------ windows and board runs


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """One window of the stream: its time and each modality's raw samples (None: missing)."""

    time_s: float
    raw: Mapping[str, np.ndarray | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class AppRun:
    """What one board run of the app reported.

    ``records`` are the parsed JSON lines (one per decision); ``inputs[w]`` the int8 model
    inputs of window ``w`` (model input order), ``scores[w]`` its int8 scores;
    ``instructions[w]`` its (front-ends, model, policy) instruction counts (multiples of the
    board's ``instructions_per_tick``); ``stack_bytes`` the high-water mark over the windows.
    """

    records: list[dict[str, Any]]
    inputs: list[list[np.ndarray]]
    scores: np.ndarray
    instructions: np.ndarray
    stack_bytes: int
    elf: Path
    lines: list[str] = field(default_factory=list)


def windows_bytes(app: GeneratedApp, windows: Sequence[Window]) -> bytes:
    """``windows.bin``: per window ``<f8`` time, ``<u4`` missing mask, 4 reserved bytes, then
    every modality's raw float32 samples (zeros for a missing one)."""
    chunks = []
    for index, window in enumerate(windows):
        mask, raws = 0, []
        for bit, (name, floats) in enumerate(zip(app.modalities, app.raw_floats, strict=True)):
            value = window.raw.get(name)
            if value is None:
                mask |= 1 << bit
                raws.append(np.zeros(floats, "<f4"))
                continue
            flat = np.asarray(value, "<f4").reshape(-1)
            if flat.size != floats:
                raise DeployError(f"windows[{index}][{name!r}]: {flat.size} samples, the C "
                                  f"front-end takes {floats}")
            raws.append(flat)
        chunks.append(np.array([window.time_s], "<f8").tobytes()
                      + np.array([mask, 0], "<u4").tobytes() + b"".join(r.tobytes() for r in raws))
    return b"".join(chunks)


def build_app_for_qemu(app: GeneratedApp, model: Any, out_dir: str | Path, *,
                       board: str = "mps2-an386") -> Path:
    """Compile the app, its front-ends, the model (a ``CompiledModel``), the runtime and
    ``app_main.c`` with the board's harness services, using ``firmware/deploy.py``'s flags;
    returns ``app.elf``.

    Raises
    ------
    DeployError
        Unknown board, or a compiler/linker failure (a too-big app names the overflowing
        region).
    """
    from tinyfuse.firmware import deploy
    from tinyfuse.firmware.boards import find_board
    from tinyfuse.firmware.compiler import runtime_dir, runtime_sources

    target = find_board(board)
    if len(model.outputs) != 1 or model.outputs[0].float_io:
        raise DeployError("the app runs models with one int8 output (the class scores)")
    folder = Path(out_dir)
    write_app(app, folder)
    model.write(folder)
    (folder / "board.ld").write_text(target.linker_script())
    services = [p for p in target.harness_sources() if p.name != "main.c"]
    sources = [folder / name for name in app.files if name.endswith(".c")]
    elf = folder / "app.elf"
    command = [
        deploy._tool(f"{target.toolchain_prefix}gcc", target.family), *target.gcc_flags,
        *deploy.C_FLAGS, *target.harness_defines(), f"-I{folder}", f"-I{deploy.HARNESS_DIR}",
        f"-I{runtime_dir()}", str(folder / "model.c"), *map(str, sources),
        *map(str, runtime_sources()), str(deploy.HARNESS_DIR / HARNESS_SOURCE),
        *map(str, services), *deploy.LINK_FLAGS[target.family], f"-L{deploy.HARNESS_DIR}",
        f"-T{folder / 'board.ld'}", f"-Wl,-Map={folder / 'app.map'}", "-lm", "-o", str(elf),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise deploy._link_error(target, folder, result.stderr)
    if result.stderr.strip():
        raise DeployError(f"warnings building the app for {board}:\n{result.stderr.strip()}")
    return elf


def _read_run(app: GeneratedApp, run_dir: Path, count: int, elf: Path,
              ticks_to_instructions: float) -> AppRun:
    words = np.fromfile(run_dir / "header.bin", dtype="<u4") \
        if (run_dir / "header.bin").is_file() else np.zeros(0, "<u4")
    if len(words) < 8 or words[0] != APP_MAGIC or words[2] != count:
        raise DeployError(f"{run_dir / 'header.bin'}: missing or incomplete app header")
    lines = (run_dir / "records.jsonl").read_text(encoding="ascii").splitlines()
    try:
        records = [json.loads(line) for line in lines]
    except json.JSONDecodeError as exc:
        raise DeployError(f"{run_dir / 'records.jsonl'}: not JSON lines: {exc}") from None
    flat = np.fromfile(run_dir / "inputs.bin", dtype=np.int8).reshape(count, -1)
    splits = np.cumsum(app.input_bytes)[:-1]
    ticks = np.fromfile(run_dir / "ticks.bin", dtype="<u4").astype(np.int64).reshape(count, 3)
    return AppRun(
        records=records, inputs=[list(np.split(row, splits)) for row in flat],
        scores=np.fromfile(run_dir / "scores.bin", dtype=np.int8).reshape(count, -1),
        instructions=np.round(ticks * ticks_to_instructions).astype(np.int64),
        stack_bytes=int(words[5]), elf=elf, lines=lines)


def run_app_on_qemu(bundle: Any, windows: Sequence[Window], *, board: str = "mps2-an386",
                    work_dir: str | Path, sensor_shapes: Mapping[str, Sequence[int]] | None = None,
                    app_hash: str | None = None, policy: Policy | None = None,
                    timeout_s: float = 300.0) -> AppRun:
    """Generate, build and run the bundle's app on an emulated board over ``windows``.

    Raises
    ------
    DeployError
        A build or run failure; exit status 30 when the app refuses the model's hash.
    """
    from tinyfuse.firmware import deploy
    from tinyfuse.firmware.boards import find_board
    from tinyfuse.firmware.compiler import compile_bundle

    if not windows:
        raise DeployError("run_app_on_qemu: needs at least one window")
    app = generate_app(bundle, sensor_shapes=sensor_shapes, app_hash=app_hash, policy=policy)
    folder = Path(work_dir)
    elf = build_app_for_qemu(app, compile_bundle(bundle), folder / "build", board=board)
    run_dir = folder / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    (run_dir / "windows.bin").write_bytes(windows_bytes(app, windows))
    target = find_board(board)
    try:
        deploy._qemu(elf, run_dir, target, timeout_s=timeout_s, uart_files=RESULT_FILES)
    except DeployError as exc:
        reasons = [text for code, text in APP_STATUS.items() if f"exited with {code} " in str(exc)]
        raise DeployError(f"{exc}\napp harness: {reasons[0]}" if reasons else str(exc)) from None
    return _read_run(app, run_dir, len(windows), elf, target.instructions_per_tick)


class HostApp:
    """The generated app compiled with the host's gcc (``-Werror``) and run through ctypes:
    the same C as on a board, for checks on a machine without the cross tools.

    Parameters
    ----------
    app : GeneratedApp
    model : CompiledModel
        ``tinyfuse.firmware.compiler.compile_bundle(bundle)`` (or another bundle's, to see
        :meth:`init` refuse it).
    work_dir : path
        Where the sources and the library go (created).
    """

    def __init__(self, app: GeneratedApp, model: Any, work_dir: str | Path) -> None:
        from tinyfuse.firmware.compiler import runtime_dir, runtime_sources

        folder = Path(work_dir)
        write_app(app, folder)
        model.write(folder)
        library = folder / "libtinyfuse_app.so"
        sources = [folder / name for name in app.files if name.endswith(".c")]
        command = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
                   f"-I{folder}", f"-I{runtime_dir()}", str(folder / "model.c"),
                   *map(str, sources), *map(str, runtime_sources()), "-lm", "-o", str(library)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ExportError(f"gcc on the app failed:\n{result.stderr[-4000:]}")
        self.app = app
        self._lib = ctypes.CDLL(str(library))
        self._lib.tinyfuse_app_window.argtypes = [ctypes.c_double, ctypes.c_uint32,
                                                  ctypes.c_void_p]
        self._lib.tinyfuse_app_record.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                                  ctypes.c_int32]
        self._lib.tinyfuse_app_quantize.argtypes = [ctypes.c_float, ctypes.c_float,
                                                    ctypes.c_int32]
        self._lib.tinyfuse_app_quantize.restype = ctypes.c_int8

    def init(self) -> int:
        """``tinyfuse_app_init()``: 0, or -2 when the model belongs to another bundle."""
        return int(self._lib.tinyfuse_app_init())

    def quantize(self, value: float, *, scale: float, zero_point: int) -> int:
        """``tinyfuse_app_quantize`` of one float32."""
        return int(self._lib.tinyfuse_app_quantize(value, scale, zero_point))

    def _buffer(self, symbol: str, index: int, ctype: Any, count: int) -> Any:
        table = (ctypes.POINTER(ctype) * len(self.app.modalities)).in_dll(self._lib, symbol)
        return ctypes.cast(table[index], ctypes.POINTER(ctype * count)).contents

    def run(self, windows: Sequence[Window]) -> AppRun:
        """Every window through ``tinyfuse_app_window`` after a fresh :meth:`init`."""
        app = self.app
        if self.init() != 0:
            raise DeployError("tinyfuse_app_init refused the model: another bundle's hash")
        data = windows_bytes(app, windows)
        decision = ctypes.create_string_buffer(128)
        line = ctypes.create_string_buffer(512)
        scores_type = ctypes.c_int8 * len(app.classes)
        records, inputs, scores = [], [], []
        for index, window in enumerate(windows):
            offset = index * app.window_bytes + WINDOW_HEADER_BYTES
            mask = int(np.frombuffer(data, "<u4", 1, offset - 8)[0])
            for i, floats in enumerate(app.raw_floats):
                raw = self._buffer("tinyfuse_app_raw", i, ctypes.c_float, floats)
                ctypes.memmove(raw, data[offset:offset + 4 * floats], 4 * floats)
                offset += 4 * floats
            status = self._lib.tinyfuse_app_window(window.time_s, mask, decision)
            if status != 0:
                raise DeployError(f"tinyfuse_app_window returned {status} on window {index}")
            inputs.append([np.ctypeslib.as_array(self._buffer("tinyfuse_app_inputs", i,
                                                             ctypes.c_int8, size)).copy()
                           for i, size in enumerate(app.input_bytes)])
            scores.append(np.ctypeslib.as_array(scores_type.in_dll(
                self._lib, "tinyfuse_app_scores")).copy())
            if self._lib.tinyfuse_app_record(decision, line, len(line)) > 0:
                records.append(line.value.decode("ascii").rstrip("\n"))
        return AppRun(records=[json.loads(r) for r in records], inputs=inputs,
                      scores=np.stack(scores), instructions=np.zeros((len(windows), 3), int),
                      stack_bytes=0, elf=Path(self._lib._name), lines=records)
