"""Type stubs of the C kernels (rempart/index/_kernels.c). Arrays must be C-contiguous; the
kernels read them through the buffer protocol."""

from collections.abc import Sequence
from typing import Any

from numpy.typing import NDArray

Hits = tuple[bytes, bytes, bytes]
TableSpec = tuple[int, int, int, int, NDArray[Any], NDArray[Any]]

def fill_table(
    hashes: NDArray[Any],
    start_bit: int,
    key_bits: int,
    prefix_bits: int,
    directory_out: NDArray[Any],
    postings_out: NDArray[Any],
) -> None: ...
def search(
    queries: NDArray[Any],
    hashes: NDArray[Any],
    max_distance: int,
    tables: Sequence[TableSpec],
    tombstones: NDArray[Any] | None,
    by_table: bool,
    first: int,
    stop: int,
) -> Hits: ...
def scan(queries: NDArray[Any], hashes: NDArray[Any], max_distance: int) -> Hits: ...
def kernel_names() -> tuple[str, ...]: ...
def use_kernel(name: str) -> None: ...
