"""Compare the browser's hash records with the Python side's, and print the distances."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from rempart.scan import hash_path
from rempart.signals import PdqHash


@dataclass(frozen=True)
class Compared:
    """One image hashed on both sides: PDQ distance in bits and the two qualities."""

    name: str
    distance: int
    python_quality: int
    browser_quality: int


def pdq_distance(python_hex: str, browser_hex: str) -> int:
    return PdqHash.from_hex(python_hex).distance(PdqHash.from_hex(browser_hex))


def compare(name: str, python: dict[str, Any], browser: dict[str, Any]) -> list[Compared]:
    """The upright PDQ of two records, and the stored-order PDQ when Python has one."""
    rows = [
        Compared(
            name,
            pdq_distance(python["pdq"], browser["pdq"]),
            python["quality"],
            browser["quality"],
        )
    ]
    if "pdq_stored_order" in python:
        rows.append(
            Compared(
                f"{name} (stored order)",
                pdq_distance(python["pdq_stored_order"], browser["pdq_stored_order"]),
                python["quality_stored_order"],
                browser["quality_stored_order"],
            )
        )
    return rows


def hash_both_ways(
    page: Page, files: list[Path], url_of: Callable[[Path], str]
) -> list[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """(file, `rempart hash` record, browser record) for each file. Python hashes in a thread
    while the browser works, so the two sides share the machine's cores."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        python = pool.submit(lambda: [hash_path(str(file)) for file in files])
        browser = hash_in_browser(page, [url_of(file) for file in files])
        return list(zip(files, python.result(), browser, strict=True))


def hash_in_browser(page: Page, urls: list[str], batch: int = 50) -> list[dict[str, Any]]:
    """`hashImageFile` records (or error records) for each URL, a batch per page evaluation."""
    records: list[dict[str, Any]] = []
    for start in range(0, len(urls), batch):
        records += page.evaluate(
            "urls => window.harness.hashFiles(urls)", urls[start : start + batch]
        )
    return records


def report(title: str, rows: list[Compared]) -> None:
    """Print every distance and the distribution, for the test log and docs/web-pdq.md."""
    distances = Counter(row.distance for row in rows)
    exact = distances[0] / len(rows)
    print(f"\n{title}: {len(rows)} images, distance 0 on {exact:.1%}")
    print(
        "  distribution (bits: images): "
        + ", ".join(f"{d}: {n}" for d, n in sorted(distances.items()))
    )
    for row in rows:
        if row.distance:
            print(
                f"  {row.name}: {row.distance} bits"
                f" (quality python {row.python_quality}, browser {row.browser_quality})"
            )
