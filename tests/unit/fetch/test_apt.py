"""Private apt states and the Debian mirror the host already uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosspython.core.errors import ConfigError
from crosspython.fetch.apt import AptState, Mirror, find_debian_mirror, source_lines


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    mirror = find_debian_mirror(tmp_path, "bookworm")
    assert mirror.uri == "http://mirror.example/debian"
    assert mirror.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] https://vendor.example/apt stable main\n"
        "deb http://ftp.example.org/debian/ bookworm main contrib\n"
    )
    assert find_debian_mirror(tmp_path, "bookworm").uri == "http://ftp.example.org/debian"
    with pytest.raises(ConfigError, match="no Debian mirror for trixie"):
        find_debian_mirror(tmp_path, "trixie")


def test_private_apt_state_never_names_host_paths(tmp_path: Path) -> None:
    lines = source_lines(Mirror("http://m/debian", "/nonexistent.gpg"), "bookworm", kind="deb", arch="armhf")
    assert lines == ["deb [arch=armhf] http://m/debian bookworm main"]
    options = AptState(tmp_path, lines, arch="armhf").options
    values = dict(o.split("=", 1) for o in options if o != "-o")
    assert values["Dir::State::Status"] == "/dev/null"
    assert values["APT::Architecture"] == "armhf"
    assert all(values[k].startswith(str(tmp_path)) for k in ("Dir::Etc::SourceList", "Dir::State::Lists", "Dir::Cache"))
