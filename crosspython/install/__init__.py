"""Putting the build into an RFS: `make install` into a stage, checks, the merge, the manifest."""
