"""Type stubs of the C kernels (rempart/index/_kernels.c). Arrays must be C-contiguous; the
kernels read them through the buffer protocol."""

from collections.abc import Sequence
from typing import Any

from numpy.typing import NDArray

Hits = tuple[bytes, bytes, bytes]
TableSpec = tuple[int, int, int, int, NDArray[Any], NDArray[Any] | None]

def sort_hashes(hashes: NDArray[Any], prefix_bits: int, order_out: NDArray[Any]) -> None: ...
def fill_table(
    hashes: NDArray[Any],
    start_bit: int,
    key_bits: int,
    prefix_bits: int,
    directory_out: NDArray[Any],
    postings_out: NDArray[Any] | None,
) -> None: ...
def search(
    queries: NDArray[Any], hashes: NDArray[Any], max_distance: int, tables: Sequence[TableSpec]
) -> Hits: ...
def scan(queries: NDArray[Any], hashes: NDArray[Any], max_distance: int) -> Hits: ...
