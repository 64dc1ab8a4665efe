"""The field loop, build side: labelled examples from people's answers folded into the next
build (``tinyfuse build APP.toml --feedback DIR``), and the drift reference a build stores.

Feedback folder format (written by ``tinyfuse run``, one file per answered alert)
-------------------------------------------------------------------------------------
``DIR/<alert_id>.npz`` (NumPy ``.npz``, no pickled objects), written atomically when a person
confirms or dismisses an alert; ``DIR/pending/<alert_id>.npz`` holds the same window while the
alert waits for its answer (it survives a restart and is deleted when the alert expires).
Members:

* ``meta``: a JSON string: ``format`` (:data:`FORMAT`), ``app``, ``bundle_hash`` (of the
  bundle that raised the alert), ``alert_id``, ``device``, ``answer`` (``"confirm"`` or
  ``"dismiss"``), ``alert_label`` (the class alerted), ``label`` (the training label, below),
  ``label_rule``, ``time_s`` (stream time), ``answered_by``, ``wall_utc``, ``classes`` and
  ``scores`` (the recording bundle's class scores for the window), ``modalities`` (the
  bundle's), ``missing``, ``source``, ``group`` and ``sample_meta`` (the sample's meta pairs);
* ``raw.<modality>``: the raw sample array of each modality the window had (what the sensor
  gave: the next build runs its own front-end on it);
* ``features.<modality>``: the standardised float32 features and ``int8.<modality>`` the int8
  model input the recording bundle computed (for audits; the build does not use them).

**Labels.** A confirmed alert is labelled with its class. A dismissed alert says "not this
class"; the build needs one class, so it is labelled with the *normal* class of the policy: the
class among those that do not alert that the recording model scored highest for the window
(the normal class itself when the policy has one, e.g. ``normal`` of the factory app). When
every class alerts, a dismissal has no label (``label`` empty) and the build skips it.
Alerts the policy confirmed on its own (confident scores), expired ones and ``AutoConfirm``'s
answers are not stored: nobody looked at them, and training on the model's own decisions
teaches it nothing.

**Folding in.** The examples are one group, ``feedback``, kept apart from the data's own split:
each goes to train, validation or test by a hash of its alert id (the config's test and
validation fractions), so the base data splits exactly as without feedback, an example stays
on its side as the folder grows, and no example is both trained on and scored. The build
report's ``feedback`` section (``feedback.json``, a model card section) says what was used
and skipped (one line per bad file, naming it), which bundles recorded them (and how many
were recorded by another bundle than the one in ``--out``), and the effect: the new int8
model and the recording model on the held-out examples (accuracy; per answer, the alerted
class's mean score and how many the new calibrated policy would still alert on), and a
logistic regression on the same features trained with and without the feedback, both scored
on the same validation rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyfuse.core.bundle import Bundle, atomic_write
from tinyfuse.core.drift import DriftReference, fit_modality
from tinyfuse.core.errors import DataError
from tinyfuse.sensors.preprocess import Preprocessor
from tinyfuse.sensors.sources.base import Sample
from tinyfuse.sensors.spec import ModalitySpec

if TYPE_CHECKING:
    from tinyfuse.fusion.pipeline import BuildState, Pass

log = logging.getLogger(__name__)

FORMAT = "tinyfuse-feedback/1"
GROUP = "feedback"
MAX_FILE_BYTES = 64 * 1024 * 1024       # one window of any sensor is far smaller
MAX_UNPACKED_BYTES = 256 * 1024 * 1024  # members together, checked before reading any
MAX_MEMBERS = 64
MAX_EXAMPLES = 100_000
PARTS = ("raw", "features", "int8")


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    """One feedback file: its ``meta`` and the arrays per modality of each part."""

    path: Path
    meta: Mapping[str, Any]
    raw: Mapping[str, np.ndarray]
    features: Mapping[str, np.ndarray] = field(default_factory=dict)
    int8: Mapping[str, np.ndarray] = field(default_factory=dict)


def write_example(path: str | Path, *, meta: Mapping[str, Any],
                  raw: Mapping[str, np.ndarray], features: Mapping[str, np.ndarray] = {},  # noqa: B006 (read only)
                  int8: Mapping[str, np.ndarray] = {}) -> Path:  # noqa: B006
    """Write one example (the module doc's format) atomically to ``path``; returns it."""
    target = Path(path)
    arrays: dict[str, Any] = {"meta": np.array(json.dumps({"format": FORMAT, **meta},
                                                           sort_keys=True, allow_nan=False))}
    for part, values in (("raw", raw), ("features", features), ("int8", int8)):
        for name, array in values.items():
            arrays[f"{part}.{name}"] = np.asarray(array)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, buffer.getvalue())
    except OSError as exc:
        raise DataError(f"{target}: cannot write the feedback example: {exc}") from None
    return target


def read_example(path: str | Path) -> Example:
    """One example; a one-line ``DataError`` naming the file when it is not one (too large,
    not an ``.npz``, pickled members, no or bad ``meta``, another format)."""
    source = Path(path)
    try:
        size = source.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DataError(f"{source}: {size} bytes, more than the {MAX_FILE_BYTES} a feedback "
                            f"example may have")
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
            unpacked = sum(info.file_size for info in infos)
            if len(infos) > MAX_MEMBERS or unpacked > MAX_UNPACKED_BYTES:
                raise DataError(f"{source}: {len(infos)} members of {unpacked} bytes unpacked "
                                f"(at most {MAX_MEMBERS} and {MAX_UNPACKED_BYTES})")
        with np.load(source, allow_pickle=False) as archive:
            members = {name: archive[name] for name in archive.files}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{source}: not a readable feedback example ({exc})") from None
    try:
        meta = json.loads(str(members.pop("meta")[()]))
    except (KeyError, ValueError, IndexError) as exc:
        raise DataError(f"{source}: no readable 'meta' member ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise DataError(f"{source}: format {found!r}, this tinyfuse reads {FORMAT!r}")
    parts: dict[str, dict[str, np.ndarray]] = {part: {} for part in PARTS}
    for key, array in members.items():
        part, _, name = key.partition(".")
        if part not in parts or not name:
            raise DataError(f"{source}: unexpected member {key!r}")
        parts[part][name] = array
    return Example(path=source, meta=meta, raw=parts["raw"], features=parts["features"],
                   int8=parts["int8"])


def dismissal_label(alert_label: str, *, classes: Sequence[str], quiet: Sequence[str],
                    scores: Sequence[float]) -> str:
    """The training label of a dismissed ``alert_label`` alert: of the ``quiet`` classes
    (those that do not alert), the one the model scored highest; ``""`` when there is none."""
    candidates = [c for c in quiet if c != alert_label and c in classes]
    if not candidates:
        return ""
    score = dict(zip(classes, scores, strict=True))
    return max(candidates, key=lambda c: score[c])


# --- folding examples into a build -------------------------------------------------------


@dataclass
class FeedbackSet:
    """What a feedback folder held: the usable examples as samples (group ``feedback``) with
    their metadata, and each skipped file with why."""

    folder: Path
    samples: list[Sample] = field(default_factory=list)
    metas: list[Mapping[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _sample(example: Example, *, app: str, modalities: Sequence[ModalitySpec],
            classes: Sequence[str]) -> Sample:
    meta, where = example.meta, example.path
    if meta.get("app") != app:
        raise DataError(f"{where}: recorded by app {meta.get('app')!r}, this build is {app!r}")
    label = str(meta.get("label") or "")
    if not label:
        raise DataError(f"{where}: no label (a dismissed {meta.get('alert_label')!r} alert "
                        f"and no class that does not alert)")
    if label not in classes:
        raise DataError(f"{where}: label {label!r} is not a class of this build "
                        f"{list(classes)}")
    names = [m.name for m in modalities]
    unknown = sorted(set(example.raw) - set(names))
    if unknown or not set(example.raw) & set(names):
        raise DataError(f"{where}: modalities {sorted(example.raw)} do not match this build's "
                        f"{names}")
    pairs = meta.get("sample_meta") or []
    try:
        sample_meta = tuple((str(k), v) for k, v in pairs
                            if v is None or isinstance(v, str | int | float | bool))
    except (TypeError, ValueError):
        raise DataError(f"{where}: meta.sample_meta must be a list of [name, value]") from None
    sample = Sample(data={k: np.array(v) for k, v in example.raw.items()}, label=label,
                    group=GROUP, key=str(meta.get("alert_id", where.stem)), source=str(where),
                    meta=sample_meta)
    preprocessor = Preprocessor(modalities)
    usable = 0
    for modality in modalities:  # a window the front-ends cannot take is a bad file
        if modality.name in sample.data:
            try:  # a sensor fault (None) is trained as that modality missing, as in the data
                usable += preprocessor.feature(modality, sample) is not None
            except (DataError, ValueError) as exc:
                raise DataError(f"{where}: {modality.name}: {exc}") from None
    if not usable:
        raise DataError(f"{where}: no modality holds a reading a sensor could make")
    return sample


def load_feedback(folder: str | Path, *, app: str, modalities: Sequence[ModalitySpec],
                  classes: Sequence[str]) -> FeedbackSet:
    """Every ``*.npz`` directly in ``folder`` (sorted; ``pending/`` is not read) that is a
    usable example for a build of ``app`` on ``modalities`` and ``classes``; each other file is
    skipped with one logged line naming it."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"--feedback {root}: no such folder")
    found = FeedbackSet(folder=root)
    for path in sorted(root.glob("*.npz"))[:MAX_EXAMPLES]:
        try:
            example = read_example(path)
            found.samples.append(_sample(example, app=app, modalities=modalities,
                                         classes=classes))
            found.metas.append(example.meta)
        except DataError as exc:
            found.skipped.append(str(exc))
            log.warning("feedback: skipped %s", exc)
    return found


def part_of(alert_id: str, *, test_fraction: float, val_fraction: float) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for an example, from a hash of its alert id:
    about ``test_fraction`` test, ``val_fraction`` of the rest validation."""
    digest = hashlib.sha256(f"tinyfuse-feedback\0{alert_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2.0 ** 64
    if position < test_fraction:
        return "test"
    if position < test_fraction + val_fraction * (1.0 - test_fraction):
        return "val"
    return "train"


def with_feedback(passes: Sequence[Pass], folder: str | Path) -> tuple[Pass, ...]:
    """``passes`` with ``feedback`` (fold the examples in, after ``split``) and
    ``feedback_report`` (their effect, before ``report``)."""
    from tinyfuse.fusion.pipeline import Pass, with_pass

    folded = with_pass(passes, Pass("feedback", lambda state: fold_pass(state, folder)),
                       before="features")
    return with_pass(folded, Pass("feedback_report", feedback_report_pass), before="report")


def _previous_hash(out_dir: Path) -> str | None:
    if not (out_dir / "bundle.json").is_file():
        return None
    try:
        return Bundle.read(out_dir).bundle_hash
    except DataError as exc:
        log.warning("feedback: the bundle in %s is unreadable (%s); not comparing hashes",
                    out_dir, exc)
        return None


def fold_pass(state: BuildState, folder: str | Path) -> None:
    """Load the examples and add them to the data, the labels and the split (see the module
    doc); what was found goes to ``state.products["feedback"]``."""
    from tinyfuse.fusion.features import labels_of

    config, base, data, split = (state.config, state.need("base"), state.need("data"),
                                 state.need("split"))
    found = load_feedback(folder, app=config.name, modalities=base.modalities,
                          classes=base.classes)
    first = len(data.samples)
    parts = np.array([part_of(s.key, test_fraction=config.data.test_fraction,
                              val_fraction=config.train.validation_fraction)
                      for s in found.samples], dtype=object)
    rows = first + np.arange(len(found.samples))
    previous = _previous_hash(state.out_dir)
    hashes = Counter(str(m.get("bundle_hash", "")) for m in found.metas)
    state.products["feedback"] = {
        "folder": str(found.folder), "n_files": len(found.samples) + len(found.skipped),
        "n_used": len(found.samples), "n_skipped": len(found.skipped),
        "skipped": found.skipped,
        "by_part": {p: int(np.sum(parts == p)) for p in ("train", "val", "test")},
        "by_answer": dict(Counter(str(m.get("answer")) for m in found.metas)),
        "by_label": dict(Counter(s.label for s in found.samples)),
        "recorded_with": {h[:16]: n for h, n in hashes.items()},
        "previous_bundle": previous,
        "bundle_hash_mismatches": None if previous is None else
        sum(n for h, n in hashes.items() if h != previous),
        "first_row": first, "split_before": split, "parts": parts,
        "recorded": [_recorded(m) for m in found.metas],
    }
    if not found.samples:
        log.warning("feedback: no usable example in %s", found.folder)
        return
    state.data = replace(data, samples=(*data.samples, *found.samples))
    state.labels = labels_of(state.data.samples, base.classes)
    counts = state.products["feedback"]["by_part"]
    state.split = replace(
        split, train=np.concatenate([split.train, rows[parts == "train"]]),
        val=np.concatenate([split.val, rows[parts == "val"]]),
        test=np.concatenate([split.test, rows[parts == "test"]]),
        validation=f"{split.validation}; feedback examples apart, by alert id: "
                   f"{counts['train']} train, {counts['val']} validation, {counts['test']} test")
    log.info("feedback: %d examples folded in (%s), %d files skipped", len(found.samples),
             counts, len(found.skipped))


def _recorded(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What the recording bundle did with the window: the class it scored highest
    (``prediction``, ``""`` if unknown), the class it alerted and that class's score, and the
    person's answer."""
    classes, scores = list(meta.get("classes") or []), list(meta.get("scores") or [])
    alerted = str(meta.get("alert_label", ""))
    known = bool(classes) and len(classes) == len(scores)
    try:
        values = np.asarray(scores, np.float64) if known else np.zeros(0)
    except (TypeError, ValueError):
        known, values = False, np.zeros(0)
    return {"prediction": str(classes[int(np.argmax(values))]) if known else "",
            "answer": str(meta.get("answer", "")), "alert_label": alerted,
            "alert_score": float(values[classes.index(alerted)])
            if known and alerted in classes else None}


def _by_answer(records: Sequence[Mapping[str, Any]], probs: np.ndarray,
               classes: Sequence[str], policy: Any) -> dict[str, Any]:
    """Per answer on the held-out examples: how many, the alerted class's mean score under
    the recording bundle and under the new int8 model, and on how many the new bundle's
    calibrated policy would alert (that class's score at or above its on-level in one
    window; ``None`` without a policy)."""
    names = list(classes)
    levels = {} if policy is None else dict(zip(policy.alert_classes, policy.on_levels,
                                                strict=True))
    out: dict[str, Any] = {}
    for answer in ("confirm", "dismiss"):
        picked = [(r, p) for r, p in zip(records, probs, strict=True)
                  if r["answer"] == answer and r["alert_label"] in names]
        if not picked:
            continue
        new = [float(p[names.index(r["alert_label"])]) for r, p in picked]
        old = [r["alert_score"] for r, _ in picked if r["alert_score"] is not None]
        out[answer] = {
            "n": len(picked), "alert_score_recording": float(np.mean(old)) if old else None,
            "alert_score_new_int8": float(np.mean(new)),
            "new_policy_would_alert": None if policy is None else int(sum(
                r["alert_label"] in levels and score >= levels[r["alert_label"]]
                for (r, _), score in zip(picked, new, strict=True)))}
    return out


def _balanced(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    from tinyfuse.fusion.metrics import balanced_accuracy

    return None if not len(truth) else float(balanced_accuracy(truth, predicted))


def _accuracy(truth: Sequence[Any], predicted: Sequence[Any]) -> float | None:
    if not len(truth):
        return None
    return float(np.mean([a == b for a, b in zip(truth, predicted, strict=True)]))


def feedback_report_pass(state: BuildState) -> None:
    """The feedback section of the report: counts, and the effect measured on rows no model
    here trained on (see the module doc)."""
    from tinyfuse.fusion import baseline
    from tinyfuse.fusion.features import fit_stats, model_inputs
    from tinyfuse.fusion.pipeline import ReportPart, int8_scores

    info = dict(state.products.get("feedback") or {})
    split, first = info.pop("split_before"), info.pop("first_row")
    recorded, parts = info.pop("recorded"), info.pop("parts")
    labels, store, spec = state.need("labels"), state.need("store"), state.need("spec")
    classes = np.array(state.need("base").classes)
    rows = {p: first + np.flatnonzero(parts == p) for p in ("train", "val", "test")}
    val = np.concatenate([split.val, rows["val"]])
    # after a refit the validation examples were trained on: only the test ones are held out
    held = rows["test"] if state.products.get("refit") else np.sort(
        np.concatenate([rows["val"], rows["test"]]))
    # the deployed models on the held-out examples: the new int8 one and the recording one
    new = int8_scores(state.need("quant").tflite, spec,
                      model_inputs(store, spec, held, state.need("student_prep").stats))
    truth = [str(classes[labels[r]]) for r in held]
    effect: dict[str, Any] = {
        "held_out_examples": int(len(held)),
        "held_out_accuracy_new_int8": _accuracy(truth, list(classes[new.argmax(1)])),
        "held_out_accuracy_recording_bundle": _accuracy(
            truth, [recorded[r - first]["prediction"] for r in held]),
        "held_out_by_answer": _by_answer([recorded[r - first] for r in held], new,
                                         list(classes), state.need("bundle").policy),
    }
    # the same features, a logistic regression trained with and without the feedback rows
    base = state.need("base")
    train_base = split.train
    train_all = np.concatenate([train_base, rows["train"]])
    stats = fit_stats(store, base, train_base)
    x_val, x_held = (model_inputs(store, base, part, stats) for part in (val, held))
    seed = state.config.data.seed
    for name, train in (("without", train_base), ("with", train_all)):
        x_train = model_inputs(store, base, train, stats)
        effect[f"validation_balanced_accuracy_linear_{name}_feedback"] = _balanced(
            labels[val], baseline.logistic_regression(x_train, labels[train], x_val, seed=seed))
        effect[f"held_out_balanced_accuracy_linear_{name}_feedback"] = _balanced(
            labels[held], baseline.logistic_regression(x_train, labels[train], x_held,
                                                       seed=seed)) if len(held) else None
    val_probs, y_val = state.need("val_probs"), state.y_val
    from_feedback = state.need("split").val >= first
    if len(val_probs) == len(y_val):
        effect["validation_balanced_accuracy_new_int8"] = _balanced(y_val, val_probs.argmax(1))
        effect["validation_balanced_accuracy_new_int8_base_rows"] = _balanced(
            y_val[~from_feedback], val_probs.argmax(1)[~from_feedback])
    info["effect"] = effect
    sections = state.products.setdefault("report_sections", {})
    sections["feedback"] = info
    state.parts.append(ReportPart(file_name="feedback.json",
                                  text=json.dumps(info, indent=2, sort_keys=True) + "\n",
                                  card_section=feedback_card_section(info)))


def _number(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.3f}"


def _answer_rows(by_answer: Mapping[str, Any]) -> str:
    words = {"confirm": "confirmed", "dismiss": "dismissed"}
    rows = []
    for answer, row in by_answer.items():
        would = row["new_policy_would_alert"]
        rows.append(f"| held-out {words[answer]} alerts ({row['n']}): mean score of the alerted "
                    f"class, recording bundle vs this int8 model"
                    f"{'' if would is None else f' (its policy alerts on {would})'} | "
                    f"{_number(row['alert_score_recording'])} | "
                    f"{_number(row['alert_score_new_int8'])} |\n")
    return "".join(rows)


def feedback_card_section(info: Mapping[str, Any]) -> str:
    """The model card's feedback section."""
    effect, parts = info.get("effect", {}), info["by_part"]
    skipped = "".join(f"\n- skipped: {line}" for line in info["skipped"][:20])
    mismatches = info.get("bundle_hash_mismatches")
    recorded = ", ".join(f"{h} ({n})" for h, n in info["recorded_with"].items()) or "none"
    hash_line = ("no previous bundle in the output folder to compare with" if mismatches is None
                 else f"{mismatches} recorded by another bundle than the one this build "
                      f"replaced")
    return (
        f"## Field feedback\n\n{info['n_used']} of {info['n_files']} examples from "
        f"`{info['folder']}` were used ({parts['train']} train, {parts['val']} validation, "
        f"{parts['test']} test: one group, assigned by alert id, apart from the data's own "
        f"split); answers {dict(info['by_answer'])}, labels {dict(info['by_label'])}; "
        f"{info['n_skipped']} skipped.{skipped}\n\nRecorded with bundles {recorded}; "
        f"{hash_line}.\n\n"
        f"| measured on rows no model here trained on | without feedback | with feedback |\n"
        f"|---|---|---|\n"
        f"| held-out examples ({effect.get('held_out_examples', 0)}): accuracy, recording "
        f"bundle vs this int8 model | "
        f"{_number(effect.get('held_out_accuracy_recording_bundle'))} | "
        f"{_number(effect.get('held_out_accuracy_new_int8'))} |\n"
        f"| validation balanced accuracy, logistic regression on the same features | "
        f"{_number(effect.get('validation_balanced_accuracy_linear_without_feedback'))} | "
        f"{_number(effect.get('validation_balanced_accuracy_linear_with_feedback'))} |\n"
        f"| held-out examples: balanced accuracy, logistic regression | "
        f"{_number(effect.get('held_out_balanced_accuracy_linear_without_feedback'))} | "
        f"{_number(effect.get('held_out_balanced_accuracy_linear_with_feedback'))} |\n"
        f"{_answer_rows(effect.get('held_out_by_answer') or {})}\n"
        f"This int8 model's validation balanced accuracy: "
        f"{_number(effect.get('validation_balanced_accuracy_new_int8'))} on every validation "
        f"row, {_number(effect.get('validation_balanced_accuracy_new_int8_base_rows'))} on "
        f"the data's own validation rows.\n")


# --- the drift reference the bundle stores ------------------------------------------------


def fit_drift(bundle: Bundle, features: Mapping[str, tuple[np.ndarray, np.ndarray]],
              ) -> DriftReference:
    """The drift reference of ``bundle`` from raw front-end features ``{modality: (training
    windows, validation windows)}`` (each ``(n, *shape)``), standardised by the bundle's own
    :class:`~tinyfuse.sensors.preprocess.Preprocessor` as the runner will standardise them."""
    preprocessor = Preprocessor.from_bundle(bundle)
    return DriftReference(modalities=tuple(
        fit_modality(name, *(preprocessor.standardize_batch(name, part) for part in parts))
        for name, parts in features.items()))


def drift_reference(state: BuildState) -> DriftReference:
    """The bundle's drift reference (:func:`fit_drift`) from the training and validation rows
    that carry each modality (after a refit, the training rows of the split before it);
    ``drift.json`` and a card section go to the report."""
    from tinyfuse.fusion.pipeline import ReportPart

    store, split = state.need("store"), state.need("split")
    train = np.setdiff1d(split.train, split.val) if state.products.get("refit") else split.train
    features = {}
    for modality in state.need("spec").modalities:
        raw, present = store.raw(modality)
        features[modality.name] = tuple(raw[rows[present[rows]]] for rows in (train, split.val))
    drift = fit_drift(state.need("bundle"), features)
    state.parts.append(ReportPart(file_name="drift.json",
                                  text=json.dumps(drift.to_dict(), indent=1) + "\n",
                                  card_section=drift_card_section(drift)))
    sections = state.products.setdefault("report_sections", {})
    sections["drift"] = {m.name: {"level": m.level, "clear_level": m.clear_level,
                                  "validation": dict(m.validation), "source": m.source}
                         for m in drift.modalities}
    return drift


DRIFT_ADVICE = (
    "**What to do on a model-health alert.** The inputs of that modality no longer look like "
    "the training data, so its scores, and the thresholds calibrated on them, may no longer "
    "hold. Check the sensor first: moved, covered, dirty or failing, a changed mounting, gain "
    "or sample rate. If the sensor is fine, the site changed (a new room, machine, background "
    "or season): answer the alerts (`tinyfuse run` keeps every confirmed and dismissed one in "
    "its feedback folder), record some normal windows of the new conditions, and rebuild with "
    "`tinyfuse build APP.toml --feedback DIR`. Until then, watch that modality's alerts (their "
    "dismissal rate first). The alert clears by itself when the inputs come back.")


def drift_card_section(drift: DriftReference) -> str:
    """The model card's drift-monitoring section (levels and what to do)."""
    rows = "\n".join(f"| {m.name} | {m.level:.2f} | {m.clear_level:.2f} | "
                     f"{m.validation.get('mean', float('nan')):.2f} | "
                     f"{int(m.validation.get('n', 0))} ({m.source}) |" for m in drift.modalities)
    return ("## Drift monitoring\n\n`tinyfuse run` keeps a running drift score per modality "
            "(an exponentially weighted mean of the per-window score: the RMS of the "
            "features' z-scores against the training windows, about 1 on them) and publishes "
            "a `model_health` alert on the alert topic when it passes the level below (the "
            "99.5 % quantile of the validation windows' scores, at least that of a normal "
            "distribution of their mean and standard deviation), once per excursion; a "
            "window counts at most twice the level, so one odd window raises nothing; the "
            "alert clears below the clear level (their 90 % quantile, at most halfway back to "
            "their mean).\n\n"
            "| modality | level | clear level | validation mean | validation windows |\n"
            f"|---|---|---|---|---|\n{rows}\n\n{DRIFT_ADVICE}\n")
