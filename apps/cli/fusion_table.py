"""The fusion comparison (``tinyfuse.fusion.compare``) as the lines ``build`` and ``evaluate``
print."""

from __future__ import annotations

from typing import Any


def fusion_lines(fusion: dict[str, Any] | None) -> list[str]:
    """One line per variant (test balanced accuracy and ROC AUC) and the verdict; none when
    the build did not compare."""
    if not fusion:
        return []
    lines = ["  fusion against its parts (int8, test; each trained alike):"]
    for name, parts in fusion["variants"].items():
        row = parts["test"]
        auc = "" if row["roc_auc"] is None else f", ROC AUC {row['roc_auc']:.3f}"
        lines.append(f"    {name:<20} balanced accuracy {row['balanced_accuracy']:.3f}{auc}")
    if fusion.get("best_branch"):
        gain = fusion["fusion_gain_points"]
        lines.append(f"    best fusion ({fusion['best_fusion']}) "
                     f"{'beats' if gain > 0 else 'does NOT beat'} the best branch "
                     f"({fusion['best_branch']}) by {gain:+.1f} points")
    return lines
