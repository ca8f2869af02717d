"""Type stubs of the C kernels (rempart/signals/_tiles.c). Arrays must be C-contiguous; the
kernels read them through the buffer protocol."""

from typing import Any

from numpy.typing import NDArray

def area_tiles(
    image: NDArray[Any], height: int, width: int, boxes: NDArray[Any], tiles: NDArray[Any]
) -> int: ...
def tile_quality(tiles: NDArray[Any], out: NDArray[Any]) -> None: ...
