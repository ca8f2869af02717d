"""rempart: hash, match and act against non-consensual intimate imagery."""

__version__ = "0.1.0"
