"""The hash record: one line of ``rempart hash`` output, and what ``rempart match`` reads back.

A public contract (docs/cli.md): JSON keys ``path``, ``pdq``, ``quality``, ``md5``, ``sha256``,
``width``, ``height`` (plus ``format``, ``orientation``, ``pdq_stored_order`` and
``quality_stored_order`` when EXIF orientation is not 1, ``dihedral`` and ``regions`` (the
regional signature's wire object, docs/derivatives.md) on request); for a video,
``path``, ``md5``, ``sha256``, ``width``, ``height``, ``format``, ``codec``, ``duration`` and
``vpdq`` (the frame list, docs/video.md) and no ``pdq``; or ``path`` and ``error``
(``{"type", "message"}``) when the file could not be hashed. Keys are only ever
added, never renamed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rempart.errors import InvalidSignal, RempartError
from rempart.signals import (
    ExactHash,
    ImageSignals,
    PdqHash,
    RegionalSignature,
    Signal,
    VideoSignals,
    VideoSignature,
)

CSV_COLUMNS = (
    "path",
    "pdq",
    "quality",
    "md5",
    "sha256",
    "width",
    "height",
    "orientation",
    "pdq_stored_order",
    "quality_stored_order",
    "error",
    "duration",
    "vpdq",
    "regions",
)


@dataclass(frozen=True, slots=True)
class HashRecord:
    """The signals of one file as read back from a record (any of them may be absent)."""

    path: str
    pdq: tuple[PdqHash, ...] = ()
    md5: ExactHash | None = None
    sha256: ExactHash | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    vpdq: VideoSignature | None = None
    regions: RegionalSignature | None = None


def signals_record(path: str, signals: ImageSignals) -> dict[str, Any]:
    """The JSON record of a hashed image."""
    record: dict[str, Any] = {
        "path": path,
        "pdq": signals.pdq.hex,
        "quality": signals.pdq.quality,
        "md5": signals.md5.value,
        "sha256": signals.sha256.value,
        "width": signals.width,
        "height": signals.height,
        "format": signals.format,
        "orientation": signals.orientation,
    }
    if signals.pdq_stored_order is not None:
        record["pdq_stored_order"] = signals.pdq_stored_order.hex
        record["quality_stored_order"] = signals.pdq_stored_order.quality
    if signals.dihedral is not None:
        record["dihedral"] = {name: value.hex for name, value in signals.dihedral.items()}
    if signals.regions is not None:
        record["regions"] = signals.regions.to_json()
    return record


def video_record(path: str, signals: VideoSignals) -> dict[str, Any]:
    """The JSON record of a hashed video: its frames under ``vpdq``, no single ``pdq``."""
    return {
        "path": path,
        "md5": signals.md5.value,
        "sha256": signals.sha256.value,
        "width": signals.width,
        "height": signals.height,
        "format": signals.format,
        "codec": signals.codec,
        "duration": signals.duration,
        "vpdq": signals.vpdq.frames_json(),
    }


def error_record(path: str, error: RempartError) -> dict[str, Any]:
    """The JSON record of a file that could not be hashed."""
    return {"path": path, "error": {"type": type(error).__name__, "message": error.message}}


def csv_row(record: dict[str, Any]) -> dict[str, Any]:
    """A JSON record flattened to :data:`CSV_COLUMNS` (errors as ``Type: message``, a video's
    frames and a regional signature as their JSON text)."""
    row = {column: record.get(column, "") for column in CSV_COLUMNS}
    for key in ("vpdq", "regions"):
        if key in record:
            row[key] = json.dumps(record[key], separators=(",", ":"))
    if "error" in record:
        row["error"] = f"{record['error']['type']}: {record['error']['message']}"
    return row


def parse_record(obj: Any) -> HashRecord:
    """Read one JSON record back. Raises ``InvalidSignal`` when a value is malformed.

    Error records parse to a record with no signals.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("path", ""), str):
        raise InvalidSignal("a hash record is a JSON object with a 'path'")
    pdqs: list[PdqHash] = []
    for value_key, quality_key in (
        ("pdq", "quality"),
        ("pdq_stored_order", "quality_stored_order"),
    ):
        if obj.get(value_key):
            pdqs.append(PdqHash.from_hex(obj[value_key], _quality(obj.get(quality_key, 100))))
    return HashRecord(
        path=obj.get("path", ""),
        pdq=tuple(pdqs),
        md5=ExactHash.parse("md5", obj["md5"]) if obj.get("md5") else None,
        sha256=ExactHash.parse("sha256", obj["sha256"]) if obj.get("sha256") else None,
        extra={key: value for key, value in obj.items() if key == "regions"},
        vpdq=_vpdq(obj["vpdq"]) if obj.get("vpdq") else None,
        regions=_regions(obj["regions"]) if obj.get("regions") else None,
    )


def read_records(text: str, source: str) -> Iterator[HashRecord]:
    """Records from JSON lines or from the CSV that ``rempart hash --format csv`` writes."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield parse_record(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InvalidSignal(f"{source}:{number}: not valid JSON ({exc.msg})") from exc
            except InvalidSignal as exc:
                raise InvalidSignal(f"{source}:{number}: {exc.message}") from exc
        return
    reader = csv.DictReader(io.StringIO(text))
    try:
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise InvalidSignal(f"{source}: neither JSON lines nor a CSV with a 'path' column")
        for number, row in enumerate(reader, start=2):
            try:
                yield parse_record({key: value for key, value in row.items() if value})
            except InvalidSignal as exc:
                raise InvalidSignal(f"{source}:{number}: {exc.message}") from exc
    except csv.Error as exc:  # a stray carriage return, an unterminated quote...
        raise InvalidSignal(f"{source}:{max(reader.line_num, 1)}: not valid CSV ({exc})") from exc


def record_signals(record: HashRecord) -> list[Signal]:
    """The signals a record carries, ready for a bank or a case."""
    found: list[Signal] = list(record.pdq)
    found += [digest for digest in (record.md5, record.sha256) if digest is not None]
    if record.vpdq is not None:
        found.append(record.vpdq)
    if record.regions is not None:
        found.append(record.regions)
    return found


def _vpdq(value: Any) -> VideoSignature:
    """A record's ``vpdq``: the frame list, or its JSON text (a CSV cell)."""
    return VideoSignature.from_frames_json(_json_cell("vpdq", value))


def _regions(value: Any) -> RegionalSignature:
    """A record's ``regions``: the wire object, or its JSON text (a CSV cell)."""
    return RegionalSignature.from_json(_json_cell("regions", value))


def _json_cell(key: str, value: Any) -> Any:
    """A structured value as JSON lines carry it, or as the JSON text a CSV cell holds."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidSignal(f"{key} is not valid JSON ({exc.msg})") from exc


def _quality(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidSignal(f"quality must be an integer 0-100, got {value!r}") from exc
