"""Fixtures of the index tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rempart.index import _kernels


@pytest.fixture(params=_kernels.kernel_names())
def kernel(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each kernel this CPU runs (scalar, and popcnt on x86-64), the fastest restored afterwards."""
    _kernels.use_kernel(request.param)
    yield request.param
    _kernels.use_kernel(_kernels.kernel_names()[-1])
