"""Type stubs of the C kernel (rempart/signals/_pdq.c). Arrays must be C-contiguous; the kernel
reads them through the buffer protocol."""

from typing import Any

from numpy.typing import NDArray

def reduce_whole(
    rgb: NDArray[Any],
    height: int,
    width: int,
    dct: NDArray[Any],
    buffer64: NDArray[Any],
    dct16: NDArray[Any],
) -> None: ...
