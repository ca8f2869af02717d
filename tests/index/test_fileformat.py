"""Saved indexes: documented layout, memory-mapped read-only loading, damaged files refused."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from rempart.errors import InvalidIndexFile
from rempart.index import MihIndex
from rempart.index.fileformat import FORMAT_VERSION, MAGIC, read_snapshot, write_snapshot
from tests.index.hashes import random_hashes


def test_arrays_round_trip_as_read_only_views_of_one_mapping(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    arrays = {
        "a": np.arange(10, dtype=np.uint32),
        "b": np.array([-5, 2**40], dtype=np.int64),
        "c": np.zeros((3, 32), dtype=np.uint8),
    }
    write_snapshot(path, "test", {"answer": 42}, arrays)
    snapshot = read_snapshot(path, "test")
    assert snapshot.meta == {"answer": 42}
    for name, array in arrays.items():
        loaded = snapshot.arrays[name]
        assert loaded.dtype == array.dtype and np.array_equal(loaded, array)
        assert not loaded.flags.writeable
        assert isinstance(loaded.base, np.memmap)


def test_the_header_is_the_documented_layout(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    write_snapshot(path, "test", {}, {"ids": np.array([7, 8], dtype=np.int64)})
    data = path.read_bytes()
    assert data[:8] == MAGIC
    version, length = struct.unpack("<II", data[8:16])
    assert version == FORMAT_VERSION
    header = json.loads(data[16 : 16 + length])
    spec = header["arrays"]["ids"]
    assert (header["kind"], spec["dtype"], spec["shape"]) == ("test", "<i8", [2])
    start = -(-(16 + length) // 64) * 64 + spec["offset"]
    assert start % 64 == 0
    assert struct.unpack("<qq", data[start : start + 16]) == (7, 8)


def test_saving_replaces_the_file_without_disturbing_a_reader_of_the_old_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bank.index"
    rng = np.random.default_rng(0)
    old, new = random_hashes(rng, 2)
    first = MihIndex()
    first.add(np.array([1]), old[None])
    first.save(path)
    reader = MihIndex.load(path)
    second = MihIndex()
    second.add(np.array([2]), new[None])
    second.save(path)
    assert reader.range_search(old, 0).ids.tolist() == [1]
    assert MihIndex.load(path).range_search(new, 0).ids.tolist() == [2]
    assert [p.name for p in tmp_path.iterdir()] == ["bank.index"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"NOTINDEX" + data[8:],
        lambda data: data[:8] + struct.pack("<I", FORMAT_VERSION + 1) + data[12:],
        lambda data: data[:40],
        lambda data: data[:10],
        lambda data: data[:-64],
        lambda data: data[:16] + b"}" + data[17:],
    ],
    ids=["magic", "version", "truncated-header", "truncated-preamble", "truncated-data", "json"],
)
def test_a_damaged_file_is_refused(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bank.index"
    index = MihIndex(buffer_limit=10)
    index.add(np.arange(40, dtype=np.int64), random_hashes(np.random.default_rng(1), 40))
    index.save(path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(InvalidIndexFile):
        MihIndex.load(path)


def test_another_kind_and_unsafe_dtypes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.index"
    write_snapshot(path, "brute", {}, {"ids": np.zeros(1, dtype=np.int64)})
    with pytest.raises(InvalidIndexFile, match="not 'mih'"):
        MihIndex.load(path)
    with pytest.raises(ValueError, match="cannot be saved"):
        write_snapshot(path, "x", {}, {"objects": np.array([object()])})
    with pytest.raises(ValueError, match="cannot be saved"):
        write_snapshot(path, "x", {}, {"floats": np.zeros(2)})


def test_a_file_of_the_first_format_version_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "bank.index"
    index = MihIndex(buffer_limit=10)
    index.add(np.arange(40, dtype=np.int64), random_hashes(np.random.default_rng(2), 40))
    index.save(path)
    data = path.read_bytes()
    path.write_bytes(data[:8] + struct.pack("<I", 1) + data[12:])
    with pytest.raises(InvalidIndexFile, match=r"version 1; .* rebuild the index"):
        MihIndex.load(path)


def test_a_segment_whose_arrays_disagree_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bank.index"
    index = MihIndex(buffer_limit=10)
    index.add(np.arange(40, dtype=np.int64), random_hashes(np.random.default_rng(3), 40))
    index.save(path)
    snapshot = read_snapshot(path, "mih")
    arrays = dict(snapshot.arrays)
    arrays["segment0/tombstones"] = np.zeros(1, dtype=np.uint8)  # 40 rows need 5 bytes
    write_snapshot(path, "mih", snapshot.meta, arrays)
    with pytest.raises(InvalidIndexFile, match="tombstones"):
        MihIndex.load(path)
