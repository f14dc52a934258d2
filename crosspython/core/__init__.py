"""What every step stands on: the subprocess runner, the artifacts layout and stamps, ELF headers, errors."""
