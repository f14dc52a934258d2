"""The board's root file system: provisioning the default one from Debian's packages."""
