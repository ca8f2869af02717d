"""Exact PDQ range search at scale: rempart's MihIndex versus faiss and threatexchange.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench_index.py --sizes 100000 1000000 10000000
    .venv/bin/python benchmarks/bench_index.py --sweep-tables 100000 1000000 10000000
    .venv/bin/python benchmarks/bench_index.py --regions 4400000

For each size: random 256-bit hashes (ids 0..n-1), 1000 queries (half planted near-duplicates at
a uniform distance 0-31 from a stored hash, half random), radius 31. For each engine, in a
forked child process so that memory is measured per engine:
- build time, RSS delta (and bytes per hash) from before the build to after it,
- single-query latency p50/p99 (one query per call, up to --single queries or 20 s),
- batch throughput: the 1000 queries in one call (best of 3), every core allowed,
- recall against the NumPy BruteForceIndex at the smallest size (100 k by default).
Engines: rempart ``MihIndex``; ``faiss.IndexBinaryFlat`` (exhaustive popcount, OpenMP threads);
threatexchange's ``PDQIndex2`` (faiss IndexFlatL2 over 256 floats) up to --pdq-max hashes only (it
needs about 1.6 GB per million). PDQIndex2 has no batch query: its batch row uses the faiss index
it wraps (``_index.search`` over the list), the fastest path it has.
Batch CPU is the CPU time of all threads per query: on a machine shared with other work the
wall clock also counts their turns, and a quiet machine runs a batch at about cores / CPU time.
Writes benchmarks/results/index.md (with --sweep-tables: benchmarks/results/index-tables.md, the
measurements behind the number of tables, the bucket size and when a batch is searched table by
table; with --regions: benchmarks/results/index-regions.md, the derivative matcher's lookups of
~290 region hashes at radius 20-28).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rempart.index import BruteForceIndex, MihIndex
from rempart.index.segment import (
    BUCKET_LOG,
    BY_TABLE_ROWS,
    BY_TABLE_WORK,
    Segment,
    TableGeometry,
    plan_tables,
)

RESULTS = Path(__file__).parent / "results"
RADIUS = 31
BATCH = 1000
SINGLE_BUDGET_S = 20.0

Hits = set[tuple[int, int]]
Engine = Callable[[NDArray[np.int64], NDArray[np.uint8]], tuple[Any, Callable[..., Any]]]


def settled_rss_bytes() -> int:
    """Resident memory after handing freed heap back to the system (glibc keeps freed blocks
    below its mmap threshold, up to 32 MiB each, which would count temporaries of a build)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def make_queries(
    rng: np.random.Generator,
    hashes: NDArray[np.uint8],
    count: int,
    planted_share: float = 0.5,
    radius: int = RADIUS,
) -> NDArray[np.uint8]:
    """``planted_share`` of them near-duplicates (a uniform distance 0-``radius`` from a stored
    hash), the rest random; shuffled."""
    planted = round(count * planted_share)
    bits = np.unpackbits(hashes[rng.integers(0, len(hashes), planted)], axis=1)
    for row in range(planted):
        flips = rng.choice(256, size=int(rng.integers(0, radius + 1)), replace=False)
        bits[row, flips] ^= 1
    queries = np.concatenate(
        [np.packbits(bits, axis=1), rng.integers(0, 256, (count - planted, 32), dtype=np.uint8)]
    )
    return queries[rng.permutation(count)]


# -- engines: each builds from (ids, hashes) and returns (index, search(queries) -> hits) -------


def rempart_engine(ids: NDArray[np.int64], hashes: NDArray[np.uint8]) -> tuple[Any, Any]:
    index = MihIndex()
    index.add(ids, hashes)

    def search(queries: NDArray[np.uint8]) -> Hits:
        hits = index.range_search(queries, RADIUS)
        return set(zip(hits.query_no.tolist(), hits.ids.tolist(), strict=True))

    return index, search


def faiss_engine(ids: NDArray[np.int64], hashes: NDArray[np.uint8]) -> tuple[Any, Any]:
    import faiss

    faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
    index = faiss.IndexBinaryFlat(256)
    index.add(hashes)  # faiss rows are 0..n-1, the same as ids here

    def search(queries: NDArray[np.uint8]) -> Hits:
        # faiss reports distances strictly below the radius.
        limits, _, labels = index.range_search(queries, RADIUS + 1)
        query_no = np.repeat(np.arange(len(queries)), np.diff(limits.astype(np.int64)))
        return set(zip(query_no.tolist(), ids[labels].tolist(), strict=True))

    return index, search


def pdq_engine(ids: NDArray[np.int64], hashes: NDArray[np.uint8]) -> tuple[Any, Any]:
    from threatexchange.signal_type.pdq.pdq_index2 import PDQIndex2
    from threatexchange.signal_type.pdq.pdq_utils import convert_pdq_strings_to_ndarray

    index = PDQIndex2(entries=zip(hex_strings(hashes), ids.tolist(), strict=True), threshold=RADIUS)

    def search(queries: NDArray[np.uint8]) -> Hits:
        strings = hex_strings(queries)
        if len(strings) == 1:
            return {(0, match.metadata) for match in index.query(strings[0])}
        # PDQIndex2 has no batch API; this is the faiss range search it wraps, per query list.
        limits, _, labels = index._index.faiss_index.range_search(
            convert_pdq_strings_to_ndarray(strings).astype(np.float32), RADIUS + 1
        )
        query_no = np.repeat(np.arange(len(queries)), np.diff(limits.astype(np.int64)))
        return set(zip(query_no.tolist(), ids[labels].tolist(), strict=True))

    return index, search


def hex_strings(hashes: NDArray[np.uint8]) -> list[str]:
    return [row.tobytes().hex() for row in hashes]


ENGINES: dict[str, Engine] = {
    "rempart MihIndex": rempart_engine,
    "faiss IndexBinaryFlat": faiss_engine,
    "threatexchange PDQIndex2": pdq_engine,
}


def measure(
    engine: Engine,
    ids: NDArray[np.int64],
    hashes: NDArray[np.uint8],
    queries: NDArray[np.uint8],
    singles: int,
) -> dict[str, Any]:
    before = settled_rss_bytes()
    started = time.perf_counter()
    index, search = engine(ids, hashes)
    build = time.perf_counter() - started
    memory = settled_rss_bytes() - before
    latencies = []
    deadline = time.perf_counter() + SINGLE_BUDGET_S
    for number in range(min(singles, len(queries))):
        started = time.perf_counter()
        search(queries[number : number + 1])
        latencies.append(time.perf_counter() - started)
        if time.perf_counter() > deadline:
            break
    batch_times = []
    batch_cpu = []
    hits: Hits = set()
    for _ in range(3):
        started, cpu = time.perf_counter(), time.process_time()
        hits = search(queries)
        batch_times.append(time.perf_counter() - started)
        batch_cpu.append(time.process_time() - cpu)
        if sum(batch_times) > SINGLE_BUDGET_S:
            break
    del index
    return {
        "build_s": build,
        "rss_bytes": memory,
        "bytes_per_hash": memory / len(hashes),
        "p50_us": float(np.percentile(latencies, 50)) * 1e6,
        "p99_us": float(np.percentile(latencies, 99)) * 1e6,
        "singles": len(latencies),
        "batch_qps": len(queries) / min(batch_times),
        # CPU time (all threads) per query: on a shared machine the wall clock also counts
        # other processes' turns; cores / this is what a quiet machine would sustain.
        "cpu_us": min(batch_cpu) / len(queries) * 1e6,
        "hits": sorted(hits),
    }


def in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` in a forked child (its memory is its own to measure); JSON comes back."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            payload = json.dumps(work()).encode()
        except BaseException as error:  # the parent reports it; the child must not survive
            payload = json.dumps({"error": repr(error)}).encode()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    os.waitpid(pid, 0)
    result: dict[str, Any] = json.loads(payload)
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def run(args: argparse.Namespace) -> str:
    lines = [
        "# rempart.index benchmark",
        "",
        f"Command: `python benchmarks/bench_index.py --sizes {' '.join(map(str, args.sizes))}`  ",
        f"Machine: {cpu_name()}, {len(os.sched_getaffinity(0))} cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}  ",
        f"Load average (1/5/15 min) at start: {load_average()}  ",
        f"Radius {RADIUS}; {BATCH} queries per size: half planted near-duplicates (distance "
        "0-31), half random. RSS delta: from before the build to after it, in a forked child "
        "per engine. Batch: all queries in one call, every core allowed (best of 3); batch CPU: "
        "CPU time of all threads per query (on a busy machine the wall clock also counts other "
        "processes' turns; a quiet machine runs about cores / CPU time queries per second).",
        "",
    ]
    # Imported before any child forks, so that no engine's RSS delta counts a library's import.
    import faiss  # noqa: F401
    import threatexchange.signal_type.pdq.pdq_index2  # noqa: F401

    rng = np.random.default_rng(args.seed)
    for size in args.sizes:
        hashes = rng.integers(0, 256, (size, 32), dtype=np.uint8)
        ids = np.arange(size, dtype=np.int64)
        queries = make_queries(rng, hashes, BATCH)
        results: dict[str, dict[str, Any]] = {}
        for name, engine in ENGINES.items():
            if name.startswith("threatexchange") and size > args.pdq_max:
                continue
            print(f"{size:>10,} {name} ...", flush=True)
            results[name] = in_child(
                functools.partial(measure, engine, ids, hashes, queries, args.single)
            )
            print(f"{'':>10} {summary(results[name])}", flush=True)
        recall_note = ""
        if size == min(args.sizes):
            reference = BruteForceIndex()
            reference.add(ids, hashes)
            found = reference.range_search(queries, RADIUS)
            truth = sorted(zip(found.query_no.tolist(), found.ids.tolist(), strict=True))
            for result in results.values():
                hits = [tuple(hit) for hit in result["hits"]]
                result["recall"] = len(set(hits) & set(truth)) / max(1, len(truth))
                result["exact"] = hits == truth
            recall_note = f" Brute force found {len(truth)} hits; recall is against it."
        lines += table(size, results, recall_note + f" Load average after: {load_average()}.")
    lines += ["", f"Load average at the end: {load_average()}", ""]
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> str:
    return (
        f"build {result['build_s']:.1f}s, {result['bytes_per_hash']:.0f} B/hash, "
        f"p50 {result['p50_us']:.0f}us, p99 {result['p99_us']:.0f}us, "
        f"{result['batch_qps']:,.0f} q/s, {result['cpu_us']:,.0f} CPU us/query"
    )


def table(size: int, results: dict[str, dict[str, Any]], note: str) -> list[str]:
    lines = [
        f"## {size:,} hashes",
        "",
        "| engine | build (s) | RSS delta (MB) | bytes/hash | single p50 (µs) | single p99 (µs) "
        "| batch (queries/s) | batch CPU (µs/query) | recall |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        recall = (
            f"{r['recall']:.0%}" + (" (identical)" if r["exact"] else "") if "recall" in r else "-"
        )
        lines.append(
            f"| {name} | {r['build_s']:.2f} | {r['rss_bytes'] / 2**20:,.0f} "
            f"| {r['bytes_per_hash']:.0f} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} "
            f"| {r['batch_qps']:,.0f} | {r['cpu_us']:,.0f} | {recall} |"
        )
    ours = results["rempart MihIndex"]
    peers = [name for name in results if name != "rempart MihIndex"]
    if peers:
        lines += ["", "rempart's advantage (peer / rempart; memory: rempart / peer):", ""]
        lines += [
            "| versus | build | memory | p50 | p99 | batch |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name in peers:
            r = results[name]
            lines.append(
                f"| {name} | {r['build_s'] / ours['build_s']:.1f}x "
                f"| {ours['rss_bytes'] / max(r['rss_bytes'], 1):.2f} "
                f"| {r['p50_us'] / ours['p50_us']:.1f}x | {r['p99_us'] / ours['p99_us']:.1f}x "
                f"| {ours['batch_qps'] / r['batch_qps']:.1f}x |"
            )
    samples = ", ".join(f"{name} {result['singles']}" for name, result in results.items())
    lines += ["", f"Single-query samples: {samples}.{note}", ""]
    return lines


def sweep(args: argparse.Namespace) -> str:
    """One thread, one segment per size: the number of tables (m), the bucket size, and batch
    size against the two ways of probing."""
    lines = [
        "# rempart.index: number of tables, bucket size, probing by table",
        "",
        f"Command: `python benchmarks/bench_index.py --sweep-tables "
        f"{' '.join(map(str, args.sweep_tables))}`  ",
        f"Machine: {cpu_name()}; one thread; radius {RADIUS}; load average at start: "
        f"{load_average()}. CPU time per query (the steadier figure on a shared machine), best "
        "of 3. Bytes/hash counts the segment's arrays (hashes, ids, directories, postings, "
        "tombstones). Defaults are marked *.",
        "",
        "## Number of tables (m)",
        "",
        "| hashes | m | substring bits | batch of 1000 (CPU µs/query) | single query p50 (CPU µs) "
        "| bytes/hash |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    rng = np.random.default_rng(args.seed)
    data = {}
    for size in args.sweep_tables:
        hashes = rng.integers(0, 256, (size, 32), dtype=np.uint8)
        data[size] = (hashes, make_queries(rng, hashes, 4 * BATCH))
    for size, (hashes, queries) in data.items():
        default = len(plan_tables(size))
        for count in range(max(8, default - 3), min(16, default + 3) + 1):
            tables = plan_tables(size, count)
            lines.append(sweep_row(hashes, queries, tables, f"{count}{'*' * (count == default)}"))
            print(lines[-1], flush=True)
    lines += [
        "",
        "## Bucket size (directory prefix of log2(n) - bucket_log bits)",
        "",
        "| hashes | bucket_log | prefix bits | batch of 1000 (CPU µs/query) "
        "| single query p50 (CPU µs) | bytes/hash |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for size, (hashes, queries) in data.items():
        for bucket_log in (3, 4, 5):
            tables = plan_tables(size, bucket_log=bucket_log)
            label = f"{bucket_log}{'*' * (bucket_log == BUCKET_LOG)}"
            lines.append(sweep_row(hashes, queries, tables, label, prefix=True))
            print(lines[-1], flush=True)
    lines += [
        "",
        "## Query by query or table by table (CPU µs/query, by batch size)",
        "",
        "| hashes | way | " + " | ".join(str(b) for b in BY_TABLE_BATCHES) + " |",
        "|---:|---|" + "---:|" * len(BY_TABLE_BATCHES),
    ]
    for size, (hashes, queries) in data.items():
        segment = Segment.build(np.arange(size, dtype=np.int64), hashes)
        for by_table in (False, True):
            cells = [
                f"{by_table_cost(segment, queries, batch, by_table):.1f}"
                for batch in BY_TABLE_BATCHES
            ]
            way = "table by table" if by_table else "query by query"
            lines.append(f"| {size:,} | {way} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
        gc.collect()
    lines += [
        "",
        f"A batch goes table by table on a segment of {BY_TABLE_ROWS:,} rows or more once "
        f"queries x rows reach {BY_TABLE_WORK:,}.",
        "",
        f"Load average at the end: {load_average()}",
        "",
    ]
    return "\n".join(lines)


BY_TABLE_BATCHES = (16, 64, 128, 256, 1000)


def sweep_row(
    hashes: NDArray[np.uint8],
    queries: NDArray[np.uint8],
    tables: tuple[TableGeometry, ...],
    label: str,
    prefix: bool = False,
) -> str:
    segment = Segment.build(np.arange(len(hashes), dtype=np.int64), hashes, tables)
    stored = sum(array.nbytes for array in segment.arrays().values())
    batch = min(
        cpu_timed(functools.partial(segment.search, queries[:BATCH], RADIUS)) for _ in range(3)
    )
    singles = [
        cpu_timed(functools.partial(segment.search, q[None], RADIUS))
        for q in queries[BATCH : BATCH + 300]
    ]
    bits = "/".join(map(str, sorted({t.prefix_bits if prefix else t.key_bits for t in tables})))
    return (
        f"| {len(hashes):,} | {label} | {bits} | {batch / BATCH * 1e6:.1f} "
        f"| {np.median(singles) * 1e6:.0f} | {stored / len(hashes):.1f} |"
    )


def by_table_cost(
    segment: Segment, queries: NDArray[np.uint8], batch: int, by_table: bool
) -> float:
    """CPU µs per query over the 4000 queries in batches of ``batch``, best of 3."""

    def run() -> None:
        for first in range(0, len(queries) - batch + 1, batch):
            segment.search(queries[first : first + batch], RADIUS, by_table)

    searched = len(queries) // batch * batch
    return min(cpu_timed(run) for _ in range(3)) / searched * 1e6


def regions(args: argparse.Namespace) -> str:
    """The derivative matcher's lookups: ~290 region hashes per query image against the region
    hashes of every reference, at the seed radius (28) and below."""
    size = args.regions
    rng = np.random.default_rng(args.seed)
    hashes = rng.integers(0, 256, (size, 32), dtype=np.uint8)
    batches = [
        make_queries(rng, hashes, REGION_BATCH, planted_share=0.1, radius=28) for _ in range(6)
    ]
    started = time.perf_counter()
    index = MihIndex()
    index.add(np.arange(size, dtype=np.int64), hashes)
    build = time.perf_counter() - started
    lines = [
        "# rempart.index: the derivative matcher's lookups",
        "",
        f"Command: `python benchmarks/bench_index.py --regions {size}`  ",
        f"Machine: {cpu_name()}, {len(os.sched_getaffinity(0))} cores; load average at start: "
        f"{load_average()}.  ",
        f"{size:,} random hashes (built in {build:.1f} s); batches of {REGION_BATCH} queries "
        "(a tenth planted within 0-28 bits of a stored hash, the rest random), as "
        "`RegionMatcher.match` sends one query image's regions. Per batch, best of 18 (6 "
        "batches, 3 rounds): wall clock and CPU time of all threads.",
        "",
        "| radius | threads | wall (ms/batch) | CPU (ms/batch) | CPU (µs/query) | hits/batch |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for radius in (20, 24, 28):
        for threads in (1, 2):
            index.threads = threads
            walls, cpus, hits = [], [], 0
            for _ in range(3):
                for batch in batches:
                    wall, cpu = time.perf_counter(), time.process_time()
                    hits = len(index.range_search(batch, radius))
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
            lines.append(
                f"| {radius} | {threads} | {min(walls) * 1e3:.2f} | {min(cpus) * 1e3:.2f} "
                f"| {min(cpus) / REGION_BATCH * 1e6:.0f} | {hits} |"
            )
            print(lines[-1], flush=True)
    lines += ["", f"Load average at the end: {load_average()}", ""]
    return "\n".join(lines)


REGION_BATCH = 290


def cpu_timed(work: Callable[[], object]) -> float:
    """CPU seconds of this process (all threads) spent in ``work``."""
    started = time.process_time()
    work()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--single", type=int, default=1000, help="single queries per engine")
    parser.add_argument("--pdq-max", type=int, default=1_000_000, help="largest PDQIndex2 size")
    parser.add_argument("--sweep-tables", type=int, nargs="+", help="sizes for the m sweep")
    parser.add_argument("--regions", type=int, help="hashes for the derivative-matching shape")
    parser.add_argument("--seed", type=int, default=20240617)
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.sweep_tables:
        (RESULTS / "index-tables.md").write_text(sweep(args))
        return
    if args.regions:
        (RESULTS / "index-regions.md").write_text(regions(args))
        return
    report = run(args)
    (RESULTS / "index.md").write_text(report)
    print(report)


if __name__ == "__main__":
    sys.exit(main())
