"""``tinyfuse.fusion.compress`` is the one documented entry point of the compression passes."""

from __future__ import annotations

import tinyfuse.fusion.compress as compress
from tinyfuse.fusion import prune, quantize, search
from tinyfuse.fusion.model import build_model

from .conftest import make_spec


def test_compress_exposes_every_pass():
    assert compress.prune_model is prune.prune_model
    assert compress.quantize_model is quantize.quantize_model
    assert compress.fake_quant_finetune is quantize.fake_quant_finetune
    assert compress.search is search.search and compress.footprint is search.footprint
    assert all(hasattr(compress, name) for name in compress.__all__)


def test_prune_and_finetune_narrows_then_finetunes_once():
    spec = make_spec(width=8)
    model = build_model(spec)
    seen = []
    pruned_spec, pruned = compress.prune_and_finetune(model, spec, fraction=0.5,
                                                      finetune=seen.append)
    assert seen == [pruned] and [b.width for b in pruned_spec.branches] == [4, 4]
    assert pruned.count_params() < model.count_params()
    same_spec, same = compress.prune_and_finetune(model, spec, fraction=0.0,
                                                  finetune=seen.append)
    assert same is model and same_spec == spec and len(seen) == 1
