"""Builds the C kernels of rempart.index and rempart.signals; everything else about the package
is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "rempart.index._kernels",
            sources=["rempart/index/_kernels.c"],
            extra_compile_args=["-O3"],
        ),
        Extension(
            "rempart.signals._pdq",
            sources=["rempart/signals/_pdq.c"],
            # The hash must be the reference's bits: no fused multiply-adds.
            extra_compile_args=["-O3", "-ffp-contract=off"],
        ),
        Extension(
            "rempart.signals._tiles",
            sources=["rempart/signals/_tiles.c"],
            extra_compile_args=["-O3"],
        ),
    ]
)
