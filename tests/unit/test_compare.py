"""The semantic comparison of two bundles and the zip a bundle travels in."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import pytest

from app.definitions.bundles import Upload, read_upload, to_zip
from app.definitions.compare import compare
from app.services.errors import Invalid
from app.settings import ROOT

CASE = (ROOT / "processes" / "case.bpmn").read_text(encoding="utf-8")


def test_an_unchanged_bundle_has_no_changes() -> None:
    assert compare({"case.bpmn": CASE}, {"case.bpmn": CASE}) == []


def test_files_added_removed_and_changed_with_a_unified_diff() -> None:
    old = {"a.schema.json": "{}\n", "gone.yaml": "x: 1\n"}
    new = {"a.schema.json": '{"title": "t"}\n', "new.yaml": "y: 2\n"}
    changes = {c.name: c for c in compare(old, new, "v1", "v2")}
    assert {n: c.status for n, c in changes.items()} == {"a.schema.json": "changed", "gone.yaml": "removed",
                                                         "new.yaml": "added"}
    assert changes["a.schema.json"].diff[:2] == ["--- v1/a.schema.json", "+++ v2/a.schema.json"]
    assert '+{"title": "t"}' in changes["a.schema.json"].diff and "-{}" in changes["a.schema.json"].diff


def test_bpmn_elements_changed_added_removed_and_moved() -> None:
    renamed = CASE.replace('name="研判分级 Triage"', 'name="研判分级 Triage v2"')
    assert renamed != CASE
    [change] = compare({"case.bpmn": CASE}, {"case.bpmn": renamed})
    assert change.elements is not None
    assert [e["id"] for e in change.elements.changed] == ["triage"]
    assert change.elements.added == change.elements.removed == change.elements.moved == []

    moved = _move_first_shape(CASE)
    [change] = compare({"case.bpmn": CASE}, {"case.bpmn": moved})
    assert change.elements is not None and change.elements.changed == [] and len(change.elements.moved) == 1

    [change] = compare({}, {"case.bpmn": CASE})
    assert change.status == "added" and change.elements is not None
    assert "triage" in {e["id"] for e in change.elements.added}


def test_a_broken_xml_file_still_gets_its_text_diff() -> None:
    [change] = compare({"case.bpmn": CASE}, {"case.bpmn": "<bpmn:definitions"})
    assert change.error and change.elements is None and change.diff


def _move_first_shape(text: str) -> str:
    start = text.index("<dc:Bounds x=\"") + len("<dc:Bounds x=\"")
    end = text.index('"', start)
    return text[:start] + str(int(float(text[start:end])) + 40) + text[end:]


def test_a_version_zip_reads_back_into_the_same_files() -> None:
    files = {"case.bpmn": CASE, "forms/triage.schema.json": "{}", "config/locality.yaml": "x: 1\n"}
    data = to_zip(files, datetime(2026, 12, 4, 12, 0))
    assert read_upload([Upload("processes-v1.zip", data)]) == files


def test_one_folder_around_a_zip_is_dropped_and_loose_files_go_where_their_kind_lives() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("processes/case.bpmn", CASE)
        archive.writestr("processes/forms/a.schema.json", "{}")
        archive.writestr("__MACOSX/processes/._case.bpmn", "junk")
    uploads = [Upload("b.zip", out.getvalue()), Upload("triage.schema.json", b"{}"),
               Upload("calendar.yaml", b"x: 1"), Upload("new_level.yaml", b"name: n")]
    assert sorted(read_upload(uploads)) == ["case.bpmn", "config/calendar.yaml", "forms/a.schema.json",
                                            "forms/triage.schema.json", "scenarios/new_level.yaml"]


@pytest.mark.parametrize("name", ["../evil.bpmn", "/etc/evil.bpmn"])
def test_a_zip_with_an_unsafe_path_is_refused(name: str) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, CASE)
    with pytest.raises(Invalid, match="unsafe path"):
        read_upload([Upload("b.zip", out.getvalue())])


def test_not_a_zip_and_not_utf8_are_refused() -> None:
    with pytest.raises(Invalid, match="not a zip"):
        read_upload([Upload("b.zip", b"nope")])
    with pytest.raises(Invalid, match="not UTF-8"):
        read_upload([Upload("case.bpmn", b"\xff\xfe")])
    with pytest.raises(Invalid, match="holds no"):
        read_upload([Upload("notes.txt", b"hi")])
