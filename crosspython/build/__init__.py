"""Building: the tool-chain, the build-host interpreter, the cross build, and target libraries from source."""
