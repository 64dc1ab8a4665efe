"""Join single-modality results into multimodal samples by ``Sample.key``."""

from __future__ import annotations

from collections import Counter

from tinyfuse.core.errors import DataError
from tinyfuse.sensors.sources.base import LoadResult, Sample, Skipped


def join_by_key(
    results: dict[str, LoadResult],
    *,
    missing: str = "drop",
    name: str = "",
) -> LoadResult:
    """Join one-modality results into multimodal samples, one per key.

    Parameters
    ----------
    results : dict[str, LoadResult]
        Modality name -> result whose samples each hold exactly one array (any data key):
        that array becomes ``data[modality name]`` in the joined sample.
    missing : {"drop", "keep"}
        What to do with a key that lacks some modality: ``"drop"`` records a :class:`Skipped`
        entry (key, missing modalities and why each was missing); ``"keep"`` keeps the sample
        with the present modalities only and names the absent ones in ``Sample.missing``.
    name : str
        Name of the joined result.

    Returns
    -------
    LoadResult
        Joined samples (sorted by key) and the input skips followed by join skips.

    Raises
    ------
    DataError
        If ``missing`` is unknown, a key repeats inside one modality, or the parts of one key
        disagree on label or group.
    """
    if missing not in ("drop", "keep"):
        raise DataError(f"join_by_key: missing={missing!r} must be 'drop' or 'keep'")
    by_modality = {m: _index(m, r) for m, r in results.items()}
    why_missing = _skip_reasons(results)
    keys = sorted({k for index in by_modality.values() for k in index})
    samples: list[Sample] = []
    skipped: list[Skipped] = [s for r in results.values() for s in r.skipped]
    for key in keys:
        parts = {m: index[key] for m, index in by_modality.items() if key in index}
        absent = tuple(m for m in results if m not in parts)
        if absent and missing == "drop":
            reasons = "; ".join(f"{m}: {why_missing.get((m, key), 'not found')}" for m in absent)
            skipped.append(Skipped(key, f"dropped: missing {', '.join(absent)} ({reasons})"))
            continue
        samples.append(_merge(key, parts, absent))
    return LoadResult(samples=tuple(samples), skipped=tuple(skipped),
                      name=name or "+".join(results))


def _index(modality: str, result: LoadResult) -> dict[str, Sample]:
    index: dict[str, Sample] = {}
    for sample in result.samples:
        if sample.key in index:
            raise DataError(f"join_by_key: key {sample.key!r} repeats in {modality!r}")
        if len(sample.data) != 1:
            raise DataError(f"join_by_key: {sample.source} holds {len(sample.data)} arrays, "
                            f"expected 1 for modality {modality!r}")
        index[sample.key] = sample
    return index


def _skip_reasons(results: dict[str, LoadResult]) -> dict[tuple[str, str], str]:
    """(modality, key) -> reason, for skips whose meta can be traced back to a key."""
    reasons: dict[tuple[str, str], str] = {}
    for modality, result in results.items():
        for skip in result.skipped:
            if skip.key:
                reasons[(modality, skip.key)] = f"{skip.path} skipped: {skip.reason}"
    return reasons


def _merge(key: str, parts: dict[str, Sample], absent: tuple[str, ...]) -> Sample:
    labels = Counter(p.label for p in parts.values())
    groups = {p.group for p in parts.values()}
    if len(labels) > 1:
        raise DataError(f"join_by_key: key {key!r} has conflicting labels {sorted(labels)}")
    if len(groups) > 1:
        raise DataError(f"join_by_key: key {key!r} has conflicting groups {sorted(groups)}")
    first = next(iter(parts.values()))
    data = {m: next(iter(p.data.values())) for m, p in parts.items()}
    meta = tuple((f"{m}.{k}", v) for m, p in parts.items() for k, v in p.meta)
    sources = ";".join(p.source for p in parts.values())
    return Sample(data=data, label=first.label, group=first.group, key=key, source=sources,
                  meta=meta, missing=absent)
