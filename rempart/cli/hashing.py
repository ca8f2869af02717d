"""``rempart hash``, ``compare``, ``match`` and ``demo``: fingerprints made on this machine."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from rempart.cli.terminal import ExitCode, fail, progress, stderr, stdout_is_terminal
from rempart.errors import InvalidSignal
from rempart.matching import match_records
from rempart.records import CSV_COLUMNS, HashRecord, csv_row, parse_record, read_records
from rempart.scan import HashOptions, expand_paths, hash_path, hash_paths
from rempart.signals import DEFAULT_FRAME_INTERVAL_S, MATCH_THRESHOLD, MAX_THRESHOLD, PdqHash

RECORD_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")
PROGRESS_MIN_FILES = 20

Threshold = Annotated[
    int,
    typer.Option(
        "--threshold",
        min=0,
        max=MAX_THRESHOLD,
        help="Largest PDQ Hamming distance that counts as a match.",
    ),
]


def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively).")],
    output_format: Annotated[
        str,
        typer.Option("--format", help="Output format: jsonl (one JSON object per line) or csv."),
    ] = "jsonl",
    dihedral: Annotated[
        bool, typer.Option("--dihedral", help="Add the PDQ hashes of the 8 rotations and flips.")
    ] = False,
    regions: Annotated[
        bool,
        typer.Option(
            "--regions",
            help="Add the regional signature (catches derivatives that keep part of a photo).",
        ),
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Processes to use; 0 means one per core.")
    ] = 0,
    frame_interval: Annotated[
        float,
        typer.Option(
            "--frame-interval",
            min=0.0,
            help="Seconds between the video frames hashed (vPDQ: 1); 0 hashes every frame.",
        ),
    ] = DEFAULT_FRAME_INTERVAL_S,
) -> None:
    """Fingerprint images and videos: one record per file on stdout, nothing leaves this machine.

    Videos get their frames under "vpdq" (docs/video.md); with --regions, images get their
    regional signature under "regions" (docs/derivatives.md). Exits 0 when at least one file was
    hashed (failed files get an "error" record), 1 when none.
    """
    if output_format not in ("jsonl", "csv"):
        fail(f"unknown format {output_format!r}: use jsonl or csv", ExitCode.USAGE)
    files = expand_paths(paths)
    if not files:
        fail("no media files found in the given folders")
    show = not stdout_is_terminal() and len(files) > PROGRESS_MIN_FILES
    options = HashOptions(dihedral=dihedral, regions=regions, frame_interval_s=frame_interval)
    records = hash_paths(files, options, workers=workers or None)
    writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS) if output_format == "csv" else None
    if writer is not None:
        writer.writeheader()
    hashed = 0
    for record in progress(records, len(files), "hashing", show):
        hashed += "error" not in record
        if writer is not None:
            writer.writerow(csv_row(record))
        else:
            sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
    if not hashed:
        raise typer.Exit(code=int(ExitCode.ERROR))


def compare_command(
    first: Annotated[str, typer.Argument(help="An image file or a PDQ hash (64 hex digits).")],
    second: Annotated[str, typer.Argument(help="An image file or a PDQ hash (64 hex digits).")],
    threshold: Threshold = MATCH_THRESHOLD,
) -> None:
    """Print the PDQ distance between two images (or hashes) and whether it is a match."""
    a, b = _pdq_of(first), _pdq_of(second)
    distance = a.distance(b)
    result = {"distance": distance, "match": distance <= threshold, "threshold": threshold}
    sys.stdout.write(json.dumps(result) + "\n")


def match_command(
    references: Annotated[
        Path,
        typer.Argument(help="Hash records (JSONL/CSV from 'rempart hash'), or media file/folder."),
    ],
    queries: Annotated[
        Path,
        typer.Argument(help="Hash records (JSONL/CSV from 'rempart hash'), or media file/folder."),
    ],
    threshold: Threshold = MATCH_THRESHOLD,
    regions: Annotated[
        bool,
        typer.Option(
            "--regions",
            help="Also compute regional signatures of media given here (records carry their own).",
        ),
    ] = False,
) -> None:
    """Print one JSON line per (query, reference) match: query, reference, signal, distance,
    match_type (exact, near, or for videos video or clip, with query_match_pct,
    reference_match_pct and, for clips, reference_start_s/reference_end_s; derivative, with
    regions_agreeing and tier, when both sides have regional signatures).

    Exits 0 whether or not anything matched, 1 on errors.
    """
    reference_records = _load_side(references, regions)
    query_records = _load_side(queries, regions)
    try:
        for found in match_records(reference_records, query_records, threshold=threshold):
            sys.stdout.write(json.dumps(found.to_json()) + "\n")
    except InvalidSignal as exc:
        fail(exc.message)


def demo_command(
    folder: Annotated[Path, typer.Argument(help="A folder of photos to fingerprint.")] = Path(
        "../shared/data/photos"
    ),
) -> None:
    """Fingerprint a folder of photos with a progress bar and print a short summary."""
    if not folder.is_dir():
        fail(f"{folder} is not a folder of photos")
    files = expand_paths([folder])
    if not files:
        fail(f"no photos in {folder}")
    started = time.perf_counter()
    failures: list[dict[str, Any]] = []
    for record in progress(hash_paths(files), len(files), "hashing", enabled=True):
        if "error" in record:
            failures.append(record)
    elapsed = time.perf_counter() - started
    stderr.print(
        f"hashed {len(files) - len(failures)} of {len(files)} images in {elapsed:.1f} s"
        f" ({len(files) / elapsed:.0f} images/s), {len(failures)} failures"
    )
    for record in failures:
        stderr.print(f"  {record['path']}: {record['error']['type']}: {record['error']['message']}")
    if failures:
        raise typer.Exit(code=int(ExitCode.ERROR))


def _pdq_of(source: str) -> PdqHash:
    if not Path(source).exists():
        try:
            return PdqHash.from_hex(source)
        except InvalidSignal:
            fail(f"{source} is neither a file nor a PDQ hash (64 hex digits)", ExitCode.USAGE)
    record = hash_path(source)
    if "error" in record:
        fail(f"{source}: {record['error']['type']}: {record['error']['message']}")
    if "pdq" not in record:
        fail(f"{source} is a video: compare takes images; 'rempart match' compares videos")
    return PdqHash.from_hex(record["pdq"], record["quality"])


def _load_side(path: Path, regions: bool = False) -> list[HashRecord]:
    """Records from a JSONL/CSV file, or from hashing the media at ``path`` now (with their
    regional signatures when ``regions``)."""
    if path.is_file() and path.suffix.lower() in RECORD_SUFFIXES:
        try:
            text = path.read_text(encoding="utf-8")
            return [record for record in read_records(text, str(path)) if _has_signals(record)]
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{path} cannot be read: {exc}")
        except InvalidSignal as exc:
            fail(exc.message)
    files = expand_paths([path])
    if not path.exists():
        fail(f"{path} does not exist")
    show = len(files) > PROGRESS_MIN_FILES
    records: list[HashRecord] = []
    hashed = hash_paths(files, HashOptions(regions=regions))
    for record in progress(hashed, len(files), f"hashing {path}", show):
        if "error" in record:
            stderr.print(f"skipped {record['path']}: {record['error']['message']}")
            continue
        records.append(parse_record(record))
    return records


def _has_signals(record: HashRecord) -> bool:
    return bool(record.pdq or record.md5 or record.sha256 or record.vpdq or record.regions)


__all__ = ["compare_command", "demo_command", "hash_command", "match_command"]
