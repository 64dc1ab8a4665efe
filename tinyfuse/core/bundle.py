"""The bundle: the one artifact a build produces and the host, the board and the MicroPython
package share.

A :class:`Bundle` holds, for one model: the app name, the classes, per model input its modality
name, front-end spec, standardisation and int8 quantisation (:class:`BundleInput`, in input
order), the int8 output quantisation, the decision policy, a record of how it was built, and
the ``.tflite`` bytes. ``bundle_hash`` is the SHA-256 over the model bytes and the canonical
parameters: any change to weights, front-end, scaling, quantisation or policy changes it.
``drift`` (optional: bundles built before it have none and load as before, with the same hash)
is the :class:`~tinyfuse.core.drift.DriftReference` the runner's drift monitor compares the
field's inputs with; it is hashed only when present.

On disk a bundle is a folder with ``model.tflite`` and ``bundle.json``. :meth:`Bundle.write` is
the only writer: each file goes to a temporary name and is moved into place with
``os.replace``, the model first and ``bundle.json`` (which names the hash of both) last, so a
reader sees the old bundle or the new one, never a mixture: :meth:`Bundle.read` recomputes the
hash and refuses a folder whose files do not match it.

Examples
--------
>>> bundle = Bundle.read("demo-out")                        # doctest: +SKIP
>>> bundle.bundle_hash[:12], bundle.classes                  # doctest: +SKIP
('3f0c9a1be2d4', ('normal', 'imbalance', 'outer_race', 'inner_race'))
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyfuse import __version__
from tinyfuse.core.drift import DriftReference, n_summary_features
from tinyfuse.core.errors import DataError, SpecError
from tinyfuse.core.policy import Policy
from tinyfuse.core.specs import canonical_json

SCHEMA_VERSION = 1
BUNDLE_FILE = "bundle.json"
MODEL_FILE = "model.tflite"
MAX_MODEL_BYTES = 64 * 1024 * 1024  # read no larger model: no board holds one
MAX_PARAMS_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleInput:
    """One model input.

    Attributes
    ----------
    name : str
        The modality name (also the Keras input name and the C input table's name).
    frontend : mapping
        The modality's front-end spec as JSON (``tinyfuse.sensors.spec.frontend_to_dict``).
    index : int
        Position among the model's inputs.
    shape : tuple of int
        The input tensor's shape (batch 1 included).
    mean, std_scale : tuple of float
        Standardisation ``(x - mean) / std_scale``, broadcast over the feature's last axis
        (one value: the whole feature).
    scale, zero_point
        The input tensor's int8 quantisation.
    """

    name: str
    frontend: Mapping[str, Any]
    index: int
    shape: tuple[int, ...]
    mean: tuple[float, ...]
    std_scale: tuple[float, ...]
    scale: float
    zero_point: int

    def __post_init__(self) -> None:
        where = f"inputs[{self.name!r}]"
        _require(bool(self.name) and isinstance(self.name, str), f"{where}.name",
                 "must be a non-empty string")
        _require("kind" in self.frontend, f"{where}.frontend", "needs a 'kind'")
        _require(self.mean and len(self.mean) == len(self.std_scale), f"{where}.standardize",
                 "mean and scale need the same number of values, at least one")
        _require(all(math.isfinite(v) for v in (*self.mean, *self.std_scale))
                 and all(v > 0 for v in self.std_scale), f"{where}.standardize",
                 "values must be finite and every scale > 0")
        _require(math.isfinite(self.scale) and self.scale > 0, f"{where}.scale",
                 "must be a finite number > 0")
        _require(-128 <= self.zero_point <= 127, f"{where}.zero_point", "must be in [-128, 127]")
        _require(all(d >= 1 for d in self.shape), f"{where}.shape", "dimensions must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "frontend": dict(self.frontend), "index": self.index,
                "shape": list(self.shape), "standardize": {"mean": list(self.mean),
                                                           "scale": list(self.std_scale)},
                "scale": self.scale, "zero_point": self.zero_point}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> BundleInput:
        entry = _mapping(data, where)
        standard = _mapping(_get(entry, "standardize", where), f"{where}.standardize")
        return cls(name=str(_get(entry, "name", where)),
                   frontend=_mapping(_get(entry, "frontend", where), f"{where}.frontend"),
                   index=_int(_get(entry, "index", where), f"{where}.index"),
                   shape=tuple(_int(d, f"{where}.shape") for d in
                               _list(_get(entry, "shape", where), f"{where}.shape")),
                   mean=_floats(_get(standard, "mean", where), f"{where}.standardize.mean"),
                   std_scale=_floats(_get(standard, "scale", where),
                                     f"{where}.standardize.scale"),
                   scale=_float(_get(entry, "scale", where), f"{where}.scale"),
                   zero_point=_int(_get(entry, "zero_point", where), f"{where}.zero_point"))


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleOutput:
    """The class-probability output: its int8 quantisation and tensor shape."""

    scale: float
    zero_point: int
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "zero_point": self.zero_point, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> BundleOutput:
        entry = _mapping(data, where)
        return cls(scale=_float(_get(entry, "scale", where), f"{where}.scale"),
                   zero_point=_int(_get(entry, "zero_point", where), f"{where}.zero_point"),
                   shape=tuple(_int(d, f"{where}.shape") for d in
                               _list(_get(entry, "shape", where), f"{where}.shape")))


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    """A built model with everything needed to turn raw samples into decisions.

    ``policy`` is ``None`` until the build's calibrate pass adds one (:meth:`with_policy`);
    ``record`` is what the build wants kept with the model (fusion spec, op list, compression
    and budget settings): JSON data, hashed like the rest. ``drift`` is the inputs' drift
    reference (``None`` in a bundle built without one: no drift monitoring).
    """

    app: str
    classes: tuple[str, ...]
    inputs: tuple[BundleInput, ...]
    output: BundleOutput
    tflite: bytes = field(repr=False)
    policy: Policy | None = None
    record: Mapping[str, Any] = field(default_factory=dict)
    drift: DriftReference | None = None

    def __post_init__(self) -> None:
        _require(bool(self.classes) and len(set(self.classes)) == len(self.classes), "classes",
                 "must be distinct names, at least one")
        _require(bool(self.inputs), "inputs", "needs at least one model input")
        _require([i.index for i in self.inputs] == list(range(len(self.inputs))), "inputs",
                 "must be listed in model input order 0, 1, ...")
        names = [i.name for i in self.inputs]
        _require(len(set(names)) == len(names), "inputs", f"duplicate modality names {names}")
        _require(self.policy is None or self.policy.classes == self.classes, "policy",
                 "its classes must be the bundle's classes")
        _require(0 < len(self.tflite) <= MAX_MODEL_BYTES, "tflite",
                 f"needs 1 to {MAX_MODEL_BYTES} bytes, got {len(self.tflite)}")
        for reference in () if self.drift is None else self.drift.modalities:
            _require(reference.name in names, "drift", f"{reference.name!r} is not an input")
            size = math.prod(self.input(reference.name).shape[1:])
            _require(len(reference.mean) == n_summary_features(size), "drift",
                     f"{reference.name!r}: {len(reference.mean)} features for an input of "
                     f"{size} values")

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality names in model input order."""
        return tuple(i.name for i in self.inputs)

    def input(self, name: str) -> BundleInput:
        for item in self.inputs:
            if item.name == name:
                return item
        raise DataError(f"bundle: no modality {name!r} (it has {list(self.modalities)})")

    def parameters(self) -> dict[str, Any]:
        """Everything but the model bytes, as canonical JSON data (what the hash covers)."""
        return {"app": self.app, "classes": list(self.classes),
                "inputs": [i.to_dict() for i in self.inputs], "output": self.output.to_dict(),
                "policy": None if self.policy is None else self.policy.to_dict(),
                "record": dict(self.record),
                **({} if self.drift is None else {"drift": self.drift.to_dict()})}

    @property
    def bundle_hash(self) -> str:
        """SHA-256 (hex) over the model bytes and the canonical parameters."""
        return bundle_hash(self.tflite, self.parameters())

    def to_dict(self) -> dict[str, Any]:
        """The ``bundle.json`` content: schema and tinyfuse version, hash, parameters."""
        return {"schema_version": SCHEMA_VERSION, "tinyfuse_version": __version__,
                "bundle_hash": self.bundle_hash, **self.parameters()}

    def with_policy(self, policy: Policy) -> Bundle:
        """The same bundle with ``policy`` (a new hash)."""
        return dataclasses.replace(self, policy=policy)

    def with_drift(self, drift: DriftReference | None) -> Bundle:
        """The same bundle with the drift reference ``drift`` (a new hash)."""
        return dataclasses.replace(self, drift=drift)

    def write(self, folder: str | Path) -> Path:
        """Write ``model.tflite`` then ``bundle.json`` into ``folder`` (created), each
        atomically; returns the folder."""
        root = Path(folder)
        try:
            root.mkdir(parents=True, exist_ok=True)
            text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
            atomic_write(root / MODEL_FILE, bytes(self.tflite))
            atomic_write(root / BUNDLE_FILE, text.encode())
        except OSError as exc:
            raise DataError(f"{root}: cannot write the bundle: {exc}") from None
        return root

    @classmethod
    def from_dict(cls, data: Any, tflite: bytes, *, where: str = BUNDLE_FILE) -> Bundle:
        """A bundle from ``bundle.json`` data and the model bytes; checks the schema version
        and, when the data names one, the hash."""
        entry = _mapping(data, where)
        version = entry.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DataError(f"{where}: bundle schema version {version!r}, this tinyfuse "
                            f"({__version__}) reads version {SCHEMA_VERSION}: rebuild it with "
                            f"`tinyfuse build`")
        try:
            inputs = [BundleInput.from_dict(e, f"{where}: inputs[{i}]") for i, e in
                      enumerate(_list(_get(entry, "inputs", where), f"{where}.inputs"))]
            classes = tuple(str(c) for c in _list(_get(entry, "classes", where),
                                                  f"{where}.classes"))
            policy_data = entry.get("policy")
            policy = None if policy_data is None else Policy.from_dict(
                _mapping(policy_data, f"{where}.policy"))
            drift_data = entry.get("drift")
            drift = None if drift_data is None else DriftReference.from_dict(
                drift_data, f"{where}: drift")
            bundle = cls(app=str(_get(entry, "app", where)), classes=classes,
                         inputs=tuple(sorted(inputs, key=lambda item: item.index)),
                         output=BundleOutput.from_dict(_get(entry, "output", where),
                                                       f"{where}: output"),
                         tflite=bytes(tflite), policy=policy,
                         record=_mapping(entry.get("record", {}), f"{where}.record"),
                         drift=drift)
        except SpecError as exc:
            raise DataError(f"{where}: {exc}") from None
        try:
            actual = bundle.bundle_hash
        except (TypeError, ValueError) as exc:  # a NaN or a non-JSON value in the record
            raise DataError(f"{where}: parameters are not canonical JSON ({exc})") from None
        stored = entry.get("bundle_hash")
        if stored is not None and stored != actual:
            raise DataError(f"{where}: bundle_hash {str(stored)[:12]}... does not match the "
                            f"files ({actual[:12]}...): {MODEL_FILE} or "
                            f"{BUNDLE_FILE} was changed after the build")
        return bundle

    @classmethod
    def read(cls, folder: str | Path) -> Bundle:
        """Read a bundle folder (``bundle.json`` + ``model.tflite``).

        Raises
        ------
        DataError
            One line naming the file and field: a missing or oversized file, invalid JSON,
            another schema version, a malformed field, or a hash that does not match.
        """
        root = Path(folder)
        params, model = root / BUNDLE_FILE, root / MODEL_FILE
        if not params.is_file():
            raise DataError(f"{params}: no {BUNDLE_FILE} (is {root} a `tinyfuse build` "
                            f"output?)")
        text = _read_bounded(params, MAX_PARAMS_BYTES)
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise DataError(f"{params}: not valid JSON ({exc})") from None
        if not model.is_file():
            raise DataError(f"{model}: missing (the bundle needs its model)")
        return cls.from_dict(data, _read_bounded(model, MAX_MODEL_BYTES), where=str(params))


def bundle_hash(tflite: bytes, parameters: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the model bytes (length-prefixed) and ``canonical_json``."""
    digest = hashlib.sha256(b"tinyfuse-bundle\0")
    digest.update(len(tflite).to_bytes(8, "little"))
    digest.update(bytes(tflite))
    digest.update(canonical_json(parameters).encode())
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then ``os.replace``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_bounded(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise DataError(f"{path}: {size} bytes, more than the {limit} a bundle file may have")
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None


def _require(condition: Any, field_name: str, message: str) -> None:
    if not condition:
        raise SpecError(f"bundle.{field_name}: {message}")


def _get(entry: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in entry:
        raise DataError(f"{where}: missing field {name!r}")
    return entry[name]


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise DataError(f"{where}: expected an object, got {type(value).__name__}")
    return dict(value)


def _list(value: Any, where: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise DataError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{where}: expected an integer, got {value!r}")
    return int(value)


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _floats(value: Any, where: str) -> tuple[float, ...]:
    return tuple(_float(v, where) for v in _list(value, where))
