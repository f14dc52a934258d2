"""Getting the inputs: pinned source tarballs (upstream, Debian source archive) and private apt states."""
