"""Wire schemas (pydantic). The shapes are a public contract: docs/api.md. Extend, never reshape."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SignalIn(BaseModel):
    """One signal: ``{"type": "pdq", "value": "<64 hex>", "quality": 0-100}``,
    ``{"type": "md5"|"sha256", "value": "<hex>"}``, ``{"type": "regions", "regions": [...]}`` or
    ``{"type": "vpdq", "frames": [...]}``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(max_length=32, examples=["pdq"])
    value: str | None = Field(
        default=None,
        max_length=128,
        examples=["f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"],
    )
    quality: int | None = Field(default=None, examples=[100])


class SignalsIn(BaseModel):
    signals: list[SignalIn] = Field(min_length=1, max_length=10_000)


class MatchIn(BaseModel):
    signals: list[SignalIn] = Field(min_length=1, max_length=1000)


class CaseCreated(BaseModel):
    case_id: str = Field(examples=["RMP-7K3Q-9XWD"])
    pin: str = Field(description="Shown once. Only a salted hash is kept.", examples=["K7Q2-9XWD"])


class SightingOut(BaseModel):
    seen_at: str
    platform: str
    location: str
    match_type: str
    action: str
    distance: int | None = None


class CaseOut(BaseModel):
    case_id: str
    status: Literal["active", "withdrawn"]
    signals_count: int
    sightings: list[SightingOut]
    created_at: str | None = None
    withdrawn_at: str | None = None


class CaseSignalsAdded(BaseModel):
    added: int
    signals_count: int


class MatchOut(BaseModel):
    bank: str
    signal_type: str
    distance: int
    match_type: str = Field(description="exact, near, derivative, video or clip")
    action: str = Field(description="remove, review, or none (suppressed by an allow bank)")
    token: str = Field(description="Pass to POST /v1/sightings to report where this was seen.")
    reason: str | None = None
    details: dict[str, Any] | None = None


class SignalResult(BaseModel):
    signal_index: int
    matches: list[MatchOut]


class MatchResultsOut(BaseModel):
    results: list[SignalResult]


class MediaOut(BaseModel):
    width: int
    height: int
    format: str
    kind: str = Field(default="image", description="image, animation or video")


class FileMatchOut(MatchResultsOut):
    signals: list[dict[str, Any]]
    media: MediaOut


class SightingIn(BaseModel):
    token: str = Field(max_length=2000)
    platform: str = Field(min_length=1, max_length=200, examples=["example-social"])
    location: str = Field(default="", max_length=2000, examples=["https://example.org/p/123"])
    action: str | None = Field(default=None, max_length=32, examples=["removed"])
    seen_at: datetime | None = None
    uploader: str | None = Field(default=None, max_length=200)


class SightingRecorded(BaseModel):
    sighting_id: int
    recorded: bool = Field(description="False when this token and location were reported before")


class BankIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["protect", "allow"] = "protect"
    action: Literal["remove", "review"] = "remove"
    pdq_threshold: int = Field(default=31, ge=0, le=63)
    enabled: bool = True


class BankPatch(BaseModel):
    kind: Literal["protect", "allow"] | None = None
    action: Literal["remove", "review"] | None = None
    pdq_threshold: int | None = Field(default=None, ge=0, le=63)
    enabled: bool | None = None


class BankOut(BaseModel):
    name: str
    kind: str
    action: str
    pdq_threshold: int
    enabled: bool
    shared: bool
    signals_count: int
    created_at: str


class BanksOut(BaseModel):
    banks: list[BankOut]


class AddedOut(BaseModel):
    added: int
    duplicates: int


class RemovedOut(BaseModel):
    removed: int


class ImportedOut(AddedOut):
    bank: str


class TrustedKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    public_key: str = Field(min_length=40, max_length=64)


class PublicKeyOut(BaseModel):
    organisation: str
    public_key: str


class WebhookIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000, examples=["https://platform.example/rempart"])


class WebhookCreated(BaseModel):
    id: int
    url: str
    secret: str = Field(description="Shown once: verify X-Rempart-Signature with it.")


class WebhookOut(BaseModel):
    id: int
    url: str
    enabled: bool
    pending: int
    delivered: int
    failed: int
    last_error: str | None = None


class WebhooksOut(BaseModel):
    webhooks: list[WebhookOut]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody
