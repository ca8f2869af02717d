"""The file format of saved indexes: a JSON header, then raw arrays that load memory-mapped.

Layout, all integers little-endian::

    offset 0    8 bytes  magic b"RMPINDEX"
    offset 8    u32      format version (FORMAT_VERSION)
    offset 12   u32      header length H, in bytes
    offset 16   H bytes  header, UTF-8 JSON:
                         {"kind": "mih" | "brute",
                          "meta": {...kind-specific, small...},
                          "arrays": {name: {"dtype": "<u4" | "<i8" | "|u1",
                                            "shape": [int, ...],
                                            "offset": int}}}
    zero padding up to the next multiple of 64: the start of the data area
    the arrays, C order; an array's "offset" counts from the start of the data area and is a
    multiple of 64

Loading maps the file once, read-only, and every array is a view of that mapping: the operating
system's page cache holds one copy of the data however many worker processes load the same
file, and loading costs no copy. Saving writes a new file beside the target and renames it over
the target, so a process that mapped the old file keeps reading consistent (old) data.
Nothing is pickled; dtypes outside the three above are refused.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from rempart.errors import InvalidIndexFile

MAGIC = b"RMPINDEX"
# 2: MihIndex segments keep rows in id order, every table has postings, ids may be uint32
# offsets, removals are a tombstone bitmap (1: rows sorted by hash, duplicates stored once).
FORMAT_VERSION = 2
_ALIGN = 64
_PREAMBLE = 16
_DTYPES = {"<u4", "<i8", "|u1"}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A loaded file: its kind, its small metadata and its arrays (read-only, memory-mapped)."""

    kind: str
    meta: dict[str, Any]
    arrays: dict[str, NDArray[Any]]


def write_snapshot(
    path: str | os.PathLike[str],
    kind: str,
    meta: dict[str, Any],
    arrays: dict[str, NDArray[Any]],
) -> None:
    """Write ``arrays`` (uint8, uint32 or int64) and ``meta`` (JSON-serialisable) to ``path``."""
    _check_host()
    path = os.fspath(path)
    layout: dict[str, dict[str, Any]] = {}
    stored: list[NDArray[Any]] = []
    offset = 0
    for name, array in arrays.items():
        dtype = np.dtype(array.dtype).newbyteorder("<")
        if dtype.str not in _DTYPES:
            raise ValueError(f"array {name!r}: dtype {array.dtype} cannot be saved")
        stored.append(np.ascontiguousarray(array, dtype=dtype))
        layout[name] = {"dtype": dtype.str, "shape": list(array.shape), "offset": offset}
        offset = _aligned(offset + array.nbytes)
    header = json.dumps({"kind": kind, "meta": meta, "arrays": layout}).encode()
    partial = f"{path}.partial-{os.getpid()}"
    try:
        with open(partial, "wb") as handle:
            handle.write(MAGIC)
            handle.write(np.array([FORMAT_VERSION, len(header)], dtype="<u4").tobytes())
            handle.write(header)
            _pad(handle)
            for array in stored:
                handle.write(array.data)
                _pad(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def read_snapshot(path: str | os.PathLike[str], kind: str | None = None) -> Snapshot:
    """Map ``path`` and return its arrays as read-only views of the mapping.

    Raises ``InvalidIndexFile`` when the file is not a rempart index file, has another format
    version, is truncated, or (when ``kind`` is given) holds another kind of index.
    """
    _check_host()
    name = os.fspath(path)
    try:
        data = np.memmap(name, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as error:
        raise InvalidIndexFile(f"{name}: cannot map the index file ({error})") from error
    if len(data) < _PREAMBLE or bytes(data[:8]) != MAGIC:
        raise InvalidIndexFile(f"{name} is not a rempart index file")
    version, header_length = np.frombuffer(bytes(data[8:_PREAMBLE]), dtype="<u4").tolist()
    if version != FORMAT_VERSION:
        raise InvalidIndexFile(
            f"{name} has index format version {version}; this rempart reads version "
            f"{FORMAT_VERSION} only: rebuild the index from its source (the bank's hashes) and "
            "save it again"
        )
    if _PREAMBLE + header_length > len(data):
        raise InvalidIndexFile(f"{name} is truncated")
    try:
        header = json.loads(bytes(data[_PREAMBLE : _PREAMBLE + header_length]))
        found_kind, meta, layout = header["kind"], header["meta"], header["arrays"]
        base = _aligned(_PREAMBLE + header_length)
        arrays = {key: _view(data, spec, base) for key, spec in layout.items()}
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidIndexFile(f"{name} has a damaged header ({error})") from error
    if kind is not None and found_kind != kind:
        raise InvalidIndexFile(f"{name} holds a {found_kind!r} index, not {kind!r}")
    return Snapshot(found_kind, meta, arrays)


def _view(data: np.memmap[Any, Any], spec: dict[str, Any], base: int) -> NDArray[Any]:
    dtype = spec["dtype"]
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not allowed")
    shape = tuple(int(n) for n in spec["shape"])
    offset = base + int(spec["offset"])
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if any(n < 0 for n in shape) or offset < base or offset + nbytes > len(data):
        raise ValueError("an array lies outside the file")
    return np.ndarray(shape, dtype=np.dtype(dtype), buffer=data, offset=offset)


def _pad(handle: BinaryIO) -> None:
    handle.write(bytes(_aligned(handle.tell()) - handle.tell()))


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def _check_host() -> None:
    # The kernels read the arrays in native byte order; the files are little-endian.
    if sys.byteorder != "little":
        raise RuntimeError("rempart index files need a little-endian host")
