"""What a fused model is: FusionSpec (architecture), CompressionSpec and Budget.

All three are frozen, slotted, keyword-only dataclasses, validated on creation (``SpecError``
names the field), with ``to_dict``/``from_dict``, ``to_json``/``from_json`` and ``spec_hash``
(the first 16 hex digits of the SHA-256 of the canonical JSON, ``tinyfuse.core.specs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from tinyfuse.core.errors import SpecError
from tinyfuse.core.specs import canonical_json, check, check_known, loads_json, plain_fields
from tinyfuse.core.specs import spec_hash as _hash
from tinyfuse.sensors.spec import ModalitySpec

BLOCK_TYPES = ("conv", "dsconv", "dense", "linear")
ACTIVATIONS = ("relu", "relu6")
FUSION_TYPES = ("concat", "gated")
QUANTIZATION_MODES = ("int8", "int8-qat", "int4-weights")


def _is_class_name(name: object) -> bool:
    """Any printable, non-blank string (``IR007@6``, ``B 0.007"``): class names are labels
    for people and reports, never topics, file names or C identifiers."""
    return isinstance(name, str) and bool(name.strip()) and name.isprintable()


def default_block(modality: ModalitySpec) -> str:
    """Branch block for a modality: depthwise-separable conv for 2-D maps, dense otherwise."""
    two_d = modality.frontend.kind in ("audio", "image")
    return "dsconv" if two_d else "dense"


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchSpec:
    """One modality branch: ``depth`` blocks of ``width`` channels (units for dense).

    ``block = "linear"`` has no layer: the branch passes its flattened input to the fusion
    (``width`` and ``depth`` are then unused).

    ``activation`` is that of every block. ``relu6`` bounds the activations, so an unseen
    input that drives a layer past its calibrated range saturates int8 less.
    """

    modality: str
    block: str = "dsconv"
    width: int = 8
    depth: int = 2
    activation: str = "relu"

    def __post_init__(self) -> None:
        check(self.block in BLOCK_TYPES, f"branch {self.modality}.block",
               f"{self.block!r} is not one of {BLOCK_TYPES}")
        check(isinstance(self.width, int) and 1 <= self.width <= 512,
               f"branch {self.modality}.width", "must be an int in [1, 512]")
        check(isinstance(self.depth, int) and 1 <= self.depth <= 8,
               f"branch {self.modality}.depth", "must be an int in [1, 8]")
        check(self.activation in ACTIVATIONS, f"branch {self.modality}.activation",
               f"{self.activation!r} is not one of {ACTIVATIONS}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FusionSpec:
    """A late-fusion model: one branch per modality -> concat or gated fusion -> dense head.

    ``branches`` must name every modality once, in the same order as ``modalities``.
    ``modality_dropout`` is the probability of zeroing one modality's whole input during
    training (the model still answers when a modality is missing at run time).
    """

    modalities: tuple[ModalitySpec, ...]
    classes: tuple[str, ...]
    branches: tuple[BranchSpec, ...] = ()
    fusion: str = "concat"
    head_units: int = 16
    dropout: float = 0.1
    modality_dropout: float = 0.2

    def __post_init__(self) -> None:
        check(len(self.modalities) >= 1, "modalities", "needs at least one modality")
        names = [m.name for m in self.modalities]
        check(len(set(names)) == len(names), "modalities", f"duplicate names in {names}")
        check(len(self.classes) >= 2, "classes", "needs at least two classes")
        check(len(set(self.classes)) == len(self.classes), "classes", "duplicate class names")
        for name in self.classes:
            check(_is_class_name(name), "classes",
                   f"{name!r} must be a non-blank string of printable characters")
        if not self.branches:  # fill defaults; allowed in __post_init__ of a frozen class
            defaults = tuple(BranchSpec(modality=m.name, block=default_block(m))
                             for m in self.modalities)
            object.__setattr__(self, "branches", defaults)
        check([b.modality for b in self.branches] == names, "branches",
               f"must name the modalities {names} in order")
        for branch, modality in zip(self.branches, self.modalities, strict=True):
            two_d = len(modality.output_shape) == 2
            check(branch.block in ("dense", "linear") or two_d, f"branch {branch.modality}.block",
                   f"{branch.block!r} needs a 2-D input, got shape {modality.output_shape}")
        check(self.fusion in FUSION_TYPES, "fusion", f"{self.fusion!r} not in {FUSION_TYPES}")
        check(0 <= self.head_units <= 1024, "head_units", "must be in [0, 1024] (0: no head "
              "layer, the fused features go straight to the logits)")
        check(self.fusion == "concat" or all(b.block != "linear" for b in self.branches),
              "fusion", "linear branches fuse by concat")
        check(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        check(0.0 <= self.modality_dropout < 1.0, "modality_dropout", "must be in [0, 1)")

    @property
    def modality_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modalities)

    def branch(self, name: str) -> BranchSpec:
        for branch in self.branches:
            if branch.modality == name:
                return branch
        raise SpecError(f"branches: no branch named {name!r}")

    @property
    def is_linear(self) -> bool:
        """One int8 FULLY_CONNECTED layer from the concatenated inputs to the classes."""
        return self.head_units == 0 and all(b.block == "linear" for b in self.branches)

    def linear(self) -> FusionSpec:
        """The linear student of this spec: every branch ``linear``, no head, no dropout."""
        return replace(self, branches=tuple(replace(b, block="linear") for b in self.branches),
                       head_units=0, dropout=0.0, fusion="concat")

    def only(self, names: Sequence[str]) -> FusionSpec:
        """This spec on the modalities ``names`` alone (their branches kept, in spec order)."""
        keep = [i for i, m in enumerate(self.modalities) if m.name in names]
        check(bool(keep), "modalities", f"none of {list(names)} is among "
              f"{list(self.modality_names)}")
        return replace(self, modalities=tuple(self.modalities[i] for i in keep),
                       branches=tuple(self.branches[i] for i in keep))

    def early(self) -> FusionSpec:
        """Early fusion of this spec's inputs: every input flattened and concatenated, then
        one hidden layer as wide as the late-fusion branches together (at least
        ``head_units``), then the logits."""
        width = max(self.head_units, sum(b.width for b in self.branches))
        return replace(self, branches=tuple(replace(b, block="linear") for b in self.branches),
                       head_units=min(1024, width), fusion="concat")

    def scaled(self, *, width_multiplier: float = 1.0, depth: int | None = None,
               head_units: int | None = None) -> FusionSpec:
        """A copy with every branch width scaled (at least 1) and optionally a new depth."""
        branches = tuple(
            replace(b, width=max(1, int(round(b.width * width_multiplier))),
                    depth=b.depth if depth is None else depth)
            for b in self.branches
        )
        units = self.head_units if head_units is None else head_units
        if self.is_linear:
            return self
        return replace(self, branches=branches, head_units=units)

    def to_dict(self) -> dict[str, Any]:
        return {
            "modalities": [m.to_dict() for m in self.modalities],
            "classes": list(self.classes),
            "branches": [plain_fields(b) for b in self.branches],
            "fusion": self.fusion,
            "head_units": self.head_units,
            "dropout": self.dropout,
            "modality_dropout": self.modality_dropout,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FusionSpec:
        check_known(cls, data, "fusion spec")
        try:
            values = dict(data)
            values["modalities"] = tuple(ModalitySpec.from_dict(m) for m in data["modalities"])
            values["classes"] = tuple(data["classes"])
            values["branches"] = tuple(_branch_from_dict(b) for b in data.get("branches", ()))
        except KeyError as exc:
            raise SpecError(f"fusion spec: missing field {exc.args[0]!r}") from None
        return cls(**values)

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> FusionSpec:
        return cls.from_dict(loads_json(text, "fusion spec"))

    def spec_hash(self) -> str:
        return _hash(self.to_dict())


@dataclass(frozen=True, slots=True, kw_only=True)
class CompressionSpec:
    """How the student is made: distillation, channel pruning and quantization.

    ``distill_alpha`` weighs the hard-label loss; ``1 - distill_alpha`` weighs the
    temperature-softened teacher loss (scaled by ``temperature**2``). ``prune_fraction`` of
    the channels of every prunable layer are removed (lowest L1 norm first). ``quantization``
    is ``"int8"`` (post-training), ``"int8-qat"`` (fake-quant fine-tuning when PTQ loses more
    than ``qat_threshold`` accuracy) or ``"int4-weights"`` (weights snapped to 16 levels per
    channel before int8 conversion).
    """

    teacher_width_multiplier: float = 4.0
    temperature: float = 4.0
    distill_alpha: float = 0.3
    prune_fraction: float = 0.25
    quantization: str = "int8"
    representative_samples: int = 100
    qat_threshold: float = 0.01

    def __post_init__(self) -> None:
        check(1.0 <= self.teacher_width_multiplier <= 32.0, "teacher_width_multiplier",
               "must be in [1, 32]")
        check(self.temperature > 0, "temperature", "must be positive")
        check(0.0 <= self.distill_alpha <= 1.0, "distill_alpha", "must be in [0, 1]")
        check(0.0 <= self.prune_fraction < 1.0, "prune_fraction", "must be in [0, 1)")
        check(self.quantization in QUANTIZATION_MODES, "quantization",
               f"{self.quantization!r} not in {QUANTIZATION_MODES}")
        check(1 <= self.representative_samples <= 100000, "representative_samples",
               "must be in [1, 100000]")
        check(0.0 <= self.qat_threshold <= 1.0, "qat_threshold", "must be in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompressionSpec:
        check_known(cls, data, "compression")
        return cls(**data)

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> CompressionSpec:
        return cls.from_dict(loads_json(text, "compression"))

    def spec_hash(self) -> str:
        return _hash(self.to_dict())


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """What a board leaves for the model: flash for weights + graph + runtime, RAM for the
    tensor arena. Presets in ``tinyfuse.fusion.boards`` already subtract a firmware reserve."""

    name: str
    flash_bytes: int
    ram_bytes: int

    def __post_init__(self) -> None:
        check(isinstance(self.name, str) and bool(self.name), "name", "must be non-empty")
        check(isinstance(self.flash_bytes, int) and self.flash_bytes > 0, "flash_bytes",
               "must be a positive int")
        check(isinstance(self.ram_bytes, int) and self.ram_bytes > 0, "ram_bytes",
               "must be a positive int")

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Budget:
        check_known(cls, data, "budget")
        return cls(**data)

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Budget:
        return cls.from_dict(loads_json(text, "budget"))

    def spec_hash(self) -> str:
        return _hash(self.to_dict())


def _branch_from_dict(data: dict[str, Any]) -> BranchSpec:
    check_known(BranchSpec, data, "branch")
    try:
        return BranchSpec(**data)
    except TypeError as exc:
        raise SpecError(f"branch: {exc}") from None
