"""Exact signals: MD5 and SHA-256 of the file's bytes.

They match only byte-identical copies (a forwarded document, a re-upload that a platform did
not re-encode), never an edited one, and they cost nothing to compare. MD5 is kept because
partner hash lists still carry it; SHA-256 is the one to trust.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rempart.errors import InvalidSignal

ExactKind = Literal["md5", "sha256"]

_DIGEST_HEX_LENGTH: dict[str, int] = {"md5": 32, "sha256": 64}
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True, slots=True)
class ExactHash:
    """A cryptographic digest of media bytes, as lowercase hex."""

    KINDS: ClassVar[tuple[str, ...]] = ("md5", "sha256")

    kind: ExactKind
    value: str

    def __post_init__(self) -> None:
        length = _DIGEST_HEX_LENGTH.get(self.kind)
        if length is None:
            raise InvalidSignal(f"unknown exact hash type {self.kind!r}")
        if (
            not isinstance(self.value, str)
            or len(self.value) != length
            or not _HEX.fullmatch(self.value)
        ):
            raise InvalidSignal(f"an {self.kind} value is {length} lowercase hexadecimal digits")

    @classmethod
    def parse(cls, kind: str, value: Any) -> ExactHash:
        """Accept either case of hex; raises ``InvalidSignal``."""
        if not isinstance(value, str):
            raise InvalidSignal(f"an {kind} value is a string of hexadecimal digits")
        return cls(kind, value.lower())  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ExactHash:
        """Parse ``{"type": "md5"|"sha256", "value": "<hex>"}``."""
        return cls.parse(str(obj.get("type")), obj.get("value"))

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "value": self.value}


def md5_of(data: bytes) -> ExactHash:
    return ExactHash("md5", hashlib.md5(data, usedforsecurity=False).hexdigest())


def sha256_of(data: bytes) -> ExactHash:
    return ExactHash("sha256", hashlib.sha256(data).hexdigest())
