"""Proving the result on the target under qemu-user: verify's checks and CPython's own regression tests."""
