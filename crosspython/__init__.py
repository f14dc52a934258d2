"""crosspython: cross-compile CPython for a target board, install it into its RFS, verify it."""

__version__ = "0.1.0"
