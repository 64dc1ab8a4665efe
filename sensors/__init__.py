"""What a modality is (specs) and raw samples -> features (front-ends).

``from tinyfuse.sensors import extract`` is the entry point; it is loaded on first use so that
``import tinyfuse.sensors.spec`` stays light (no librosa, OpenCV or SciPy).
"""

from __future__ import annotations

from typing import Any

__all__ = ["extract"]


def __getattr__(name: str) -> Any:
    if name == "extract":
        from tinyfuse.sensors.frontends import extract

        return extract
    raise AttributeError(f"module 'tinyfuse.sensors' has no attribute {name!r}")
