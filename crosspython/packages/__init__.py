"""Third-party packages for the board (`invoke packages`), in the order data flows:

- `target`: the target's facts, probed by running its interpreter under qemu-user (platform, wheel
  tags, extension suffix, sizes, long double format), and the files build backends read from them
  (a meson cross file, PEP 739 build-details.json, a PyO3 config file);
- `plan`: the cross-build environment of a cell (pure): the build interpreter made to report the
  target's sysconfig, the tool-chain, pkg-config reading only the RFS;
- `wheels`: resolving, downloading and building the wheels, and checking each before it may land;
- `into_rfs`: staging the wheels with `installer`, byte-code and stripping as the RFS's profile
  says, merging them into the RFS with one manifest per package, and uninstalling by that manifest.
"""
