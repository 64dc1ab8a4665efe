"""``app.toml`` -> AppConfig: what ``tinyfuse build`` needs, as frozen plain data.

Layout (every table but ``[[modalities]]`` and ``model.classes`` is optional)::

    name = "factory"
    [data]            # simulator = "factory" | "cough" | "posture", or dataset + path
    simulator = "factory"
    options = { n_per_class = 24 }
    test_fraction = 0.3
    seed = 0
    [[modalities]]    # name, kind and the front-end fields (sensors.spec)
    name = "vibration"
    kind = "vibration"
    [model]           # FusionSpec fields + width/depth/activation for every branch
    classes = ["normal", "imbalance"]
    [compression]     # CompressionSpec fields
    [budget]          # board = "<preset>" or name/flash_bytes/ram_bytes
    [train]           # TrainSettings fields
    [policy]          # PolicySettings fields: alert classes, k-of-n, cooldown, target
    [evaluate]        # EvaluateSettings fields: folds, repeats, by_meta
    [cascade]         # CascadeSettings fields: gate, target_recall, mcu, period_s
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from tinyfuse.core.errors import SpecError
from tinyfuse.fusion.boards import board_budget
from tinyfuse.fusion.spec import (
    FUSION_TYPES,
    BranchSpec,
    Budget,
    CompressionSpec,
    FusionSpec,
    default_block,
)
from tinyfuse.sensors.spec import ModalitySpec, frontend_from_dict


@dataclass(frozen=True, slots=True, kw_only=True)
class DataSettings:
    simulator: str = ""
    dataset: str = ""
    path: str = ""
    options: tuple[tuple[str, Any], ...] = ()
    test_fraction: float = 0.3
    test_groups: tuple[str, ...] = ()
    split: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.split not in ("auto", "group", "time"):
            raise SpecError(f"data.split: {self.split!r} is not 'auto', 'group' or 'time'")
        if not all(isinstance(g, str) and g for g in self.test_groups):
            raise SpecError("data.test_groups: must be a list of group names")
        if bool(self.simulator) == bool(self.dataset):
            raise SpecError("data: give exactly one of 'simulator' or 'dataset'")
        if self.simulator and self.simulator not in ("cough", "posture", "factory"):
            raise SpecError(f"data.simulator: {self.simulator!r} is not cough/posture/factory")
        if not 0.0 < self.test_fraction < 1.0:
            raise SpecError("data.test_fraction: must be in (0, 1)")


AUGMENT_MODES = ("auto", "on", "off")


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainSettings:
    """``[train]``: the training recipe (``tinyfuse.fusion.train``).

    Epoch counts are ceilings: with ``patience`` > 0 every fit is scored on the validation
    split after each epoch, halves its learning rate after ``patience // 2`` epochs without
    improvement, stops after ``patience`` and keeps its best epoch. ``search_epochs`` 0: each
    search candidate gets the student's training (``student_epochs``), so it is judged after
    the training it would get. ``class_balance``: class-weighted loss. ``augment``: seeded
    noise / gain / shift augmentation; ``auto`` trains the teacher with and without it and
    keeps what scores better on validation (the students follow that choice).
    ``branch_selection`` (with several modalities and a search): the search also tries the
    student without each branch, so a branch that does not help on validation is dropped
    (the smaller model wins a tie). ``fusions``: the fusion types the search tries (e.g.
    ``["concat", "gated"]``; empty: the ``[model]`` one). ``compare_fusion``: the build also
    trains late, gated and early fusion and every branch alone (``tinyfuse.fusion.compare``)
    and reports them.
    """

    teacher_epochs: int = 60
    student_epochs: int = 60
    finetune_epochs: int = 10
    search_epochs: int = 0
    quantize_epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 3e-3
    patience: int = 8
    class_balance: bool = True
    augment: str = "auto"
    width_multipliers: tuple[float, ...] = (0.5, 1.0)
    depths: tuple[int, ...] = ()
    input_scales: tuple[float, ...] = (1.0,)
    validation_fraction: float = 0.25
    refit: bool = False
    linear_candidate: bool = True
    branch_selection: bool = True
    fusions: tuple[str, ...] = ()
    compare_fusion: bool = False

    def __post_init__(self) -> None:
        for name in ("teacher_epochs", "student_epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise SpecError(f"train.{name}: must be >= 1")
        for name in ("finetune_epochs", "quantize_epochs", "search_epochs", "patience"):
            if getattr(self, name) < 0:
                raise SpecError(f"train.{name}: must be >= 0")
        if not (0.0 < self.learning_rate <= 1.0):
            raise SpecError(f"train.learning_rate: must be in (0, 1], got {self.learning_rate}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise SpecError("train.validation_fraction: must be in (0, 1)")
        if self.depths and min(self.depths) < 1 or self.input_scales and \
                min(self.input_scales) <= 0:
            raise SpecError("train.depths / train.input_scales: must be positive")
        if not self.width_multipliers or min(self.width_multipliers) <= 0:
            raise SpecError("train.width_multipliers: needs positive values")
        unknown = [f for f in self.fusions if f not in FUSION_TYPES]
        if unknown:
            raise SpecError(f"train.fusions: {unknown} not among {list(FUSION_TYPES)}")
        if self.augment not in AUGMENT_MODES:
            raise SpecError(f"train.augment: {self.augment!r} is not one of {list(AUGMENT_MODES)}")

    @property
    def candidate_epochs(self) -> int:
        """Epoch ceiling of each search candidate."""
        return self.search_epochs or self.student_epochs


TARGET_KEYS = ("target_recall", "target_precision", "max_false_alarms_per_hour")


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySettings:
    """``[policy]``: how class scores become alerts, and what the build calibrates for.

    Attributes (defaults in brackets)
    ----------
    alert_classes : the classes that alert [every class]; names the model lacks are dropped
        (every class alerts, with a warning, when none is left: a model trained on a real
        set's own labels)
    on_level : the uncalibrated on-level of every alert class [0.5]; calibration replaces it
    hysteresis : off-level = on-level - hysteresis (floored at 0) [0.1]
    confident_level : a decision scoring below it asks a person; never below the on-level
        [0.8]
    k, n : an alert class needs ``k`` of its last ``n`` scores at its level [1 of 1]
    cooldown_s : at most one alert of a class per ``cooldown_s`` seconds [0]
    confirm_when_missing : a decision made with a sensor missing asks a person [true]
    target_recall | target_precision | max_false_alarms_per_hour : the calibration target,
        at most one [target_recall = 0.9]
    period_s : seconds between two windows, for ``max_false_alarms_per_hour`` [1]
    """

    alert_classes: tuple[str, ...] = ()
    on_level: float = 0.5
    hysteresis: float = 0.1
    confident_level: float = 0.8
    k: int = 1
    n: int = 1
    cooldown_s: float = 0.0
    confirm_when_missing: bool = True
    target_recall: float | None = None
    target_precision: float | None = None
    max_false_alarms_per_hour: float | None = None
    period_s: float = 1.0

    def __post_init__(self) -> None:
        def number(name: str, low: float, high: float) -> None:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, int | float) or not low <= value <= high):
                raise SpecError(f"policy.{name}: must be a number in [{low}, {high}], "
                                f"got {value!r}")

        for name in ("on_level", "confident_level", "target_recall", "target_precision"):
            number(name, 0.0, 1.0)
        number("hysteresis", 0.0, 1.0)
        number("cooldown_s", 0.0, 1e9)
        number("max_false_alarms_per_hour", 0.0, 1e9)
        number("period_s", 1e-6, 1e9)
        if not all(isinstance(c, str) and c for c in self.alert_classes):
            raise SpecError("policy.alert_classes: must be a list of class names")
        if isinstance(self.k, bool) or isinstance(self.n, bool) or not (
                isinstance(self.k, int) and isinstance(self.n, int) and 1 <= self.k <= self.n
                <= 1000):
            raise SpecError(f"policy.k, policy.n: need integers 1 <= k <= n <= 1000, got "
                            f"k={self.k!r} n={self.n!r}")
        if not isinstance(self.confirm_when_missing, bool):
            raise SpecError("policy.confirm_when_missing: must be true or false")
        given = [key for key in TARGET_KEYS if getattr(self, key) is not None]
        if len(given) > 1:
            raise SpecError(f"policy: give at most one of {', '.join(TARGET_KEYS)} "
                            f"(got {given})")

    @property
    def target(self) -> tuple[str, float]:
        """``(name, goal)`` of the calibration target (``("target_recall", 0.9)`` by
        default)."""
        for key in TARGET_KEYS:
            value = getattr(self, key)
            if value is not None:
                return key, float(value)
        return "target_recall", 0.9


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeSettings:
    """``[cascade]``: an energy-aware cascade (``tinyfuse.apps.cascade``). ``gate`` names the
    cheap modality that runs on every window (empty: no cascade); a logistic gate on it is
    trained to tell alert-class windows from the rest, and its threshold is calibrated on
    validation so that it wakes the full model for at least ``target_recall`` of the
    alert-class windows. ``mcu`` names the energy preset (``tinyfuse.apps.energy``),
    ``period_s`` the time between decisions."""

    gate: str = ""
    target_recall: float = 0.95
    mcu: str = "nrf52840"
    period_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.target_recall <= 1.0:
            raise SpecError(f"cascade.target_recall: must be in (0, 1], got "
                            f"{self.target_recall!r}")
        if not 0.0 < self.period_s <= 86400.0:
            raise SpecError(f"cascade.period_s: must be in (0, 86400], got {self.period_s!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluateSettings:
    """``[evaluate]``: how ``tinyfuse evaluate`` cross-validates the build.

    ``folds`` grouped folds (every group tested once per repeat), ``repeats`` fold
    assignments; ``by_meta`` names a sample meta entry (e.g. ``"source"``) whose values get
    their own accuracy.
    """

    folds: int = 5
    repeats: int = 1
    by_meta: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or \
                not 2 <= self.folds <= 100:
            raise SpecError(f"evaluate.folds: must be an integer in [2, 100], got "
                            f"{self.folds!r}")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or \
                not 1 <= self.repeats <= 20:
            raise SpecError(f"evaluate.repeats: must be an integer in [1, 20], got "
                            f"{self.repeats!r}")
        if not isinstance(self.by_meta, str):
            raise SpecError("evaluate.by_meta: must be a meta name")


@dataclass(frozen=True, slots=True, kw_only=True)
class AppConfig:
    name: str
    data: DataSettings
    fusion: FusionSpec
    compression: CompressionSpec
    budget: Budget
    train: TrainSettings
    policy: PolicySettings = PolicySettings()
    evaluate: EvaluateSettings = EvaluateSettings()
    cascade: CascadeSettings = CascadeSettings()


TABLES = ("name", "data", "modalities", "model", "compression", "budget", "train", "policy",
          "evaluate", "cascade")


def _unknown(names: Any, known: Any, what: str) -> None:
    """``SpecError`` for the first name not in ``known``, with the closest known one."""
    unknown = sorted(set(names) - set(known))
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(f"{what}: unknown keys {unknown}{hint}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value)


_CHECKS = {
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "float": (_is_number, "a finite number"),
    "float | None": (_is_number, "a finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "tuple[str, ...]": (lambda v: isinstance(v, list | tuple) and all(
        isinstance(x, str) for x in v), "a list of strings"),
    "tuple[float, ...]": (lambda v: isinstance(v, list | tuple) and all(
        _is_number(x) for x in v), "a list of numbers"),
    "tuple[int, ...]": (lambda v: isinstance(v, list | tuple) and all(
        isinstance(x, int) and not isinstance(x, bool) for x in v), "a list of integers"),
}


def _check_types(cls: type, table: dict[str, Any], what: str) -> None:
    """Each value of ``table`` has the type its dataclass field declares (TOML values)."""
    declared = {f.name: str(f.type) for f in fields(cls)}
    for key, value in table.items():
        check = _CHECKS.get(declared.get(key, ""))
        if check is not None and not check[0](value):
            raise SpecError(f"[{what}].{key}: expected {check[1]}, got {value!r}")


def _build(cls: type, table: Any, what: str, **fixed: Any) -> Any:
    if not isinstance(table, dict):
        raise SpecError(f"[{what}]: expected a table")
    _unknown(table, {f.name for f in fields(cls)}, f"[{what}]")
    _check_types(cls, table, what)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    try:
        return cls(**values, **fixed)
    except TypeError as exc:
        raise SpecError(f"[{what}]: {exc}") from None


def _modalities(tables: Any) -> tuple[ModalitySpec, ...]:
    if not isinstance(tables, list) or not tables:
        raise SpecError("[[modalities]]: at least one modality table is required")
    out = []
    for table in tables:
        if not isinstance(table, dict):
            raise SpecError(f"[[modalities]]: expected tables, got {table!r}")
        body = {k: v for k, v in table.items() if k != "name"}
        if "name" not in table:
            raise SpecError("[[modalities]]: every modality needs a name")
        out.append(ModalitySpec(name=table["name"], frontend=frontend_from_dict(body)))
    return tuple(out)


def _fusion(table: dict[str, Any], modalities: tuple[ModalitySpec, ...]) -> FusionSpec:
    """``[model]``: FusionSpec fields; ``width``/``depth``/``activation`` (and ``blocks``, by
    modality name) for every branch; ``[model.branches.<name>]`` overrides one branch's
    ``block``, ``width``, ``depth`` or ``activation``."""
    if not isinstance(table, dict):
        raise SpecError("[model]: expected a table")
    table = dict(table)
    if "classes" not in table:
        raise SpecError("[model]: 'classes' is required")
    width, depth = table.pop("width", 8), table.pop("depth", 2)
    blocks, activation = table.pop("blocks", {}), table.pop("activation", "relu")
    if not isinstance(blocks, dict):
        raise SpecError(f"[model].blocks: expected a table of modality = block, got {blocks!r}")
    overrides = table.pop("branches", {})
    names = {m.name for m in modalities}
    if not isinstance(overrides, dict) or not all(isinstance(v, dict)
                                                  for v in overrides.values()):
        raise SpecError("[model.branches]: expected one table per modality name")
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise SpecError(f"[model.branches]: {unknown} are not modalities ({sorted(names)})")
    branches = []
    for m in modalities:
        values = {"block": blocks.get(m.name, default_block(m)), "width": width,
                  "depth": depth, "activation": activation, **overrides.get(m.name, {})}
        branches.append(_build(BranchSpec, values, f"model.branches.{m.name}",
                               modality=m.name))
    _check_types(FusionSpec, {"classes": table["classes"]}, "model")
    table["classes"] = tuple(table["classes"])
    return _build(FusionSpec, table, "model", modalities=modalities, branches=tuple(branches))


def _budget(table: Any) -> Budget:
    """``[budget]``: ``board = "<preset>"`` (``flash_bytes``/``ram_bytes`` override it), or
    ``name``, ``flash_bytes`` and ``ram_bytes``."""
    if not isinstance(table, dict):
        raise SpecError("[budget]: expected a table")
    if "board" not in table:
        return _build(Budget, table, "budget")
    if not isinstance(table["board"], str):
        raise SpecError(f"[budget].board: expected a preset name (a string), got "
                        f"{table['board']!r}")
    overrides = {k: v for k, v in table.items() if k != "board"}
    _unknown(overrides, ("flash_bytes", "ram_bytes"), "[budget] beside board")
    _check_types(Budget, overrides, "budget")
    budget = board_budget(table["board"])
    return replace(budget, **overrides) if overrides else budget


def parse_config(data: dict[str, Any], *, source: str = "app.toml") -> AppConfig:
    """Validate a parsed TOML document; ``SpecError`` names ``source`` and the key."""
    try:
        _unknown(data, TABLES, "top level")
        data_table = data.get("data", {})
        if not isinstance(data_table, dict):
            raise SpecError("[data]: expected a table")
        data_table = dict(data_table)
        raw_options = data_table.pop("options", {})
        if not isinstance(raw_options, dict):
            raise SpecError(f"[data].options: expected a table like {{ limit = 10 }}, got "
                            f"{raw_options!r}")
        options = tuple(sorted(raw_options.items()))
        fusion = _fusion(data.get("model", {}), _modalities(data.get("modalities")))
        cascade = _build(CascadeSettings, data.get("cascade", {}), "cascade")
        if cascade.gate and cascade.gate not in fusion.modality_names:
            raise SpecError(f"[cascade].gate: {cascade.gate!r} is not one of the modalities "
                            f"{list(fusion.modality_names)}")
        return AppConfig(
            name=str(data.get("name", Path(source).parent.name or "app")),
            data=_build(DataSettings, data_table, "data", options=options),
            fusion=fusion,
            compression=_build(CompressionSpec, data.get("compression", {}), "compression"),
            budget=_budget(data.get("budget", {"board": "nrf52840"})),
            train=_build(TrainSettings, data.get("train", {}), "train"),
            policy=_build(PolicySettings, data.get("policy", {}), "policy"),
            evaluate=_build(EvaluateSettings, data.get("evaluate", {}), "evaluate"),
            cascade=cascade,
        )
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from None


def load_config(path: str | Path) -> AppConfig:
    """Read and validate an ``app.toml``; a relative ``[data].path`` is relative to the file
    (and must exist)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML ({exc})") from None
    config = parse_config(data, source=str(path))
    if config.data.path:
        where = Path(config.data.path)
        where = where if where.is_absolute() else path.parent / where
        if not where.is_dir():
            raise SpecError(f"{path}: [data].path {config.data.path!r} is not a folder "
                            f"(looked at {where})")
        config = replace(config, data=replace(config.data, path=str(where)))
    return config
