"""How each signal type is written to and read from the ``signals`` table."""

from __future__ import annotations

import hashlib
import json

from rempart.errors import InvalidSignal
from rempart.signals import ExactHash, PdqHash, Signal, parse_signal, signal_type_of


def encode_signal(signal: Signal) -> tuple[str, str, str, int | None]:
    """``(type, value, value_key, quality)`` of a row: hex for hashes, JSON for other types."""
    kind = signal_type_of(signal)
    if isinstance(signal, PdqHash):
        return kind, signal.hex, signal.hex, signal.quality
    if isinstance(signal, ExactHash):
        return kind, signal.value, signal.value, None
    body = {k: v for k, v in signal.to_json().items() if k != "type"}
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    return kind, text, hashlib.sha256(text.encode()).hexdigest(), None


def decode_signal(kind: str, value: str, quality: int | None) -> Signal:
    """The signal a row holds (raises ``InvalidSignal`` if the row was corrupted)."""
    if kind == "pdq":
        # Rows were validated on the way in; skip the wire parser's checks (10M rows at start).
        try:
            return PdqHash(bytes.fromhex(value), quality if quality is not None else 0)
        except ValueError as exc:
            raise InvalidSignal(f"stored PDQ value is not hex: {exc}") from exc
    if kind in ExactHash.KINDS:
        return ExactHash.parse(kind, value)
    return parse_signal({"type": kind, **json.loads(value)})
