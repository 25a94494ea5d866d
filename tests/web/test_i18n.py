"""The catalogues compile from their .po files, and only when the .po changed."""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.mofile import read_mo

from app.web.i18n import TRANSLATIONS, compile_catalogues


def test_compile_writes_missing_or_outdated_catalogues_only(tmp_path: Path) -> None:
    shutil.copytree(TRANSLATIONS, tmp_path / "t", ignore=shutil.ignore_patterns("*.mo"))
    first = compile_catalogues(tmp_path / "t")
    assert [p.name for p in first] == ["messages.mo"]
    with first[0].open("rb") as handle:
        assert read_mo(handle).get("我的待办").string == "My inbox"
    assert compile_catalogues(tmp_path / "t") == []  # up to date: nothing written
    assert not list((tmp_path / "t").rglob(".messages.mo.*"))  # no partial files left behind
