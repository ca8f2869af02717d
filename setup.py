"""Builds the C kernels of rempart.index; everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "rempart.index._kernels",
            sources=["rempart/index/_kernels.c"],
            extra_compile_args=["-O3"],
        )
    ]
)
