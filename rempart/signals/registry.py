"""Signals on the wire: one JSON object per signal, dispatched on its ``type``.

The shapes are a public contract (docs/api.md): ``{"type": "pdq", "value": "<64 hex>",
"quality": 0-100}``, ``{"type": "md5"|"sha256", "value": "<hex>"}`` and ``{"type": "vpdq",
"frames": [{"value": "<64 hex>", "quality": 0-100, "timestamp": seconds}, ...]}``
(docs/video.md), ``{"type": "regions", "regions": [{"value": "<64 hex>", "quality": 0-100,
"box": [x0, y0, x1, y1]}, ...]}`` (docs/derivatives.md). A new signal type is a new class
with ``from_json``/``to_json`` registered here; nothing else changes.
"""

from __future__ import annotations

from typing import Any

from rempart.errors import InvalidSignal
from rempart.signals.exact import ExactHash
from rempart.signals.pdq import PdqHash
from rempart.signals.regions import RegionalSignature
from rempart.signals.video import VideoSignature

Signal = PdqHash | ExactHash | VideoSignature | RegionalSignature

SIGNAL_TYPES: tuple[str, ...] = ("pdq", "md5", "sha256", "vpdq", "regions")


def signal_type_of(signal: Signal) -> str:
    """The wire ``type`` of a parsed signal."""
    if isinstance(signal, ExactHash):
        return signal.kind
    return str(type(signal).TYPE)


def parse_signal(obj: Any) -> Signal:
    """Parse one wire signal; raises ``InvalidSignal`` with a message naming what is wrong."""
    if not isinstance(obj, dict):
        raise InvalidSignal("a signal is a JSON object with a 'type'")
    kind = obj.get("type")
    if kind == "pdq":
        return PdqHash.from_json(obj)
    if kind in ExactHash.KINDS:
        return ExactHash.from_json(obj)
    if kind == VideoSignature.TYPE:
        return VideoSignature.from_json(obj)
    if kind == RegionalSignature.TYPE:
        return RegionalSignature.from_json(obj)
    raise InvalidSignal(f"unknown signal type {kind!r}; expected one of {', '.join(SIGNAL_TYPES)}")
