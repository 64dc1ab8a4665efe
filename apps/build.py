"""The whole build a user runs (``tinyfuse build`` / ``tinyfuse demo``): fusion's passes with
``calibrate`` after ``quantize`` (before ``refit`` and ``export``), so thresholds come from
validation scores of a model that did not train on them and the bundle is written once, with
its calibrated policy; then ``cascade`` (``[cascade]`` configs only: the energy-aware gate,
``tinyfuse.apps.cascade``).

Examples
--------
>>> " ".join(p.name for p in BUILD_PASSES[7:11])
'quantize compare calibrate cascade'
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tinyfuse.apps.cascade import cascade_pass
from tinyfuse.apps.policy import template_policy
from tinyfuse.apps.thresholds import (
    CalibratedPolicy,
    CalibrationTarget,
    calibrate_policy,
    model_card_section,
)
from tinyfuse.fusion.config import AppConfig
from tinyfuse.fusion.pipeline import (
    PASSES,
    BuildResult,
    BuildState,
    Pass,
    ReportPart,
    run_build,
    with_pass,
)

log = logging.getLogger(__name__)


def calibrate_pass(state: BuildState) -> None:
    """Calibrate the ``[policy]`` on the int8 validation scores (TFLite Micro) and put it into
    the in-memory bundle; ``policy.json`` and the card section go to the report."""
    bundle = state.need("bundle")
    settings = state.config.policy
    result = calibrate_policy(template_policy(settings, bundle.classes),
                              state.need("val_probs"), state.y_val,
                              target=CalibrationTarget.of(settings))
    state.bundle = bundle.with_policy(result.policy)
    state.products["calibration"] = result
    state.parts.append(ReportPart(file_name="policy.json",
                                  text=json.dumps(result.to_dict(), indent=2) + "\n",
                                  card_section=model_card_section(result)))
    for row in result.classes:
        log.info("threshold %s = %.3f (%s; %d validation examples)", row.label, row.threshold,
                 row.source, row.positives)


BUILD_PASSES: tuple[Pass, ...] = with_pass(
    with_pass(PASSES, Pass("calibrate", calibrate_pass), before="refit"),
    Pass("cascade", cascade_pass), before="refit")


def build(config: AppConfig, out_dir: str | Path, *, data_dir: str | None = None,
          ) -> tuple[BuildResult, CalibratedPolicy]:
    """Run :data:`BUILD_PASSES`; returns the build and its calibrated policy."""
    result = run_build(config, out_dir, data_dir=data_dir, passes=BUILD_PASSES)
    return result, result.products["calibration"]
