"""The decision policy as the bundle stores it: which classes alert, their on-, off- and
confident levels, the k-of-n vote, the cooldown. Pure data (validated on creation, JSON round
trip); ``tinyfuse.apps.policy`` runs it, the board and the MicroPython package read the same
fields from the bundle."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tinyfuse.core.errors import SpecError


def _check(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise SpecError(f"policy.{field}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """How scores become decisions.

    Attributes
    ----------
    classes : tuple of str
        Every model output, in output order.
    alert_classes : tuple of str
        The classes that can raise an alert (a subset of ``classes``).
    on_levels : tuple of float
        Per alert class: a score at or above it is a hit while the class is idle.
    off_levels : tuple of float
        Per alert class (each <= its on-level): an active class stays active while at least
        ``k`` of its last ``n`` scores reach it. Empty means equal to ``on_levels``.
    confident_levels : tuple of float
        Per alert class (each >= its on-level): a decision scoring below it needs a person.
        Empty means equal to ``on_levels`` (nobody is asked, unless a modality is missing).
    k, n : int
        k-of-n vote: ``1 <= k <= n``.
    cooldown_s : float
        Minimum time between two decisions of the same class.
    confirm_when_missing : bool
        A decision made with a modality missing needs a person.
    """

    classes: tuple[str, ...]
    alert_classes: tuple[str, ...]
    on_levels: tuple[float, ...]
    off_levels: tuple[float, ...] = ()
    confident_levels: tuple[float, ...] = ()
    k: int = 1
    n: int = 1
    cooldown_s: float = 0.0
    confirm_when_missing: bool = True

    def __post_init__(self) -> None:
        _check(len(self.classes) >= 1 and len(set(self.classes)) == len(self.classes),
               "classes", "must be distinct names, at least one")
        _check(bool(self.alert_classes), "alert_classes", "at least one class must alert")
        unknown = sorted(set(self.alert_classes) - set(self.classes))
        _check(not unknown, "alert_classes", f"{unknown} are not among {list(self.classes)}")
        _check(len(set(self.alert_classes)) == len(self.alert_classes), "alert_classes",
               "duplicate names")
        count = len(self.alert_classes)
        _check(len(self.on_levels) == count, "on_levels", f"needs {count} values (one per alert "
               f"class), got {len(self.on_levels)}")
        _check(all(math.isfinite(v) for v in self.on_levels), "on_levels", "must be finite")
        _check(len(self.off_levels) in (0, count), "off_levels", f"needs 0 or {count} values")
        _check(all(off <= on for off, on in zip(self.off_levels, self.on_levels, strict=False)),
               "off_levels", "each must be <= its on-level (hysteresis)")
        _check(len(self.confident_levels) in (0, count), "confident_levels",
               f"needs 0 or {count} values")
        _check(all(c >= on for c, on in zip(self.confident_levels, self.on_levels, strict=False)),
               "confident_levels", "each must be >= its on-level")
        _check(1 <= self.k <= self.n <= 1000, "k", f"need 1 <= k <= n <= 1000, got k={self.k} "
               f"n={self.n}")
        _check(math.isfinite(self.cooldown_s) and self.cooldown_s >= 0, "cooldown_s",
               "must be a finite number >= 0")

    @property
    def off(self) -> tuple[float, ...]:
        return self.off_levels or self.on_levels

    @property
    def confident(self) -> tuple[float, ...]:
        return self.confident_levels or self.on_levels

    def to_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "alert_classes": list(self.alert_classes),
                "on_levels": list(self.on_levels), "off_levels": list(self.off_levels),
                "confident_levels": list(self.confident_levels), "k": self.k, "n": self.n,
                "cooldown_s": self.cooldown_s, "confirm_when_missing": self.confirm_when_missing}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"policy: unknown fields {unknown}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in data.items()}
        try:
            return cls(**values)
        except TypeError as exc:
            raise SpecError(f"policy: {exc}") from None
