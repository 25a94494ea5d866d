"""The locality model (config/locality.yaml): loaded and validated, errors that name file, line and
field, read again when edited — and no locality's names in the code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.services.locality import LOCALITY_FILE, LocalityError, load_locality, parse_locality

SHIPPED = LOCALITY_FILE.read_text(encoding="utf-8")


def test_the_shipped_model_gives_capabilities_kinds_and_levels() -> None:
    model = parse_locality(SHIPPED)
    assert model.roles_with("assign") == {"secretary", "platform_operator", "dept_head"}
    assert model.roles_with("read_only") == {"auditor"}
    assert model.kinds_where("summoned") == {"department"} == model.kinds_where("rated")
    assert model.kinds_where("report_place") == {"grid"}
    street = model.levels["street"]
    assert (street.blown_by, street.filed_with, street.verified_by, street.escalates_to) == (
        "street", "district", "district", "district")
    assert model.head_role("department") == "dept_head" and model.head_role("community") == "secretary"
    assert model.stages["report_in"].text(english=True) == "Report-in"
    assert {level.review_chain for level in model.levels.values()} == {("section_head", "deputy_leader")}


def _line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("capabilities: [assign]", "capabilities: [assign, fly]", "roles.dept_head.capabilities.1",
         "unknown capability 'fly'"),
        ("    parents: [community]", "    parents: [estate]", "unit_kinds.grid.parents.0",
         "unknown unit kind 'estate'"),
        ("    verified_by: street", "    verified_by: town", "whistle_levels.community.verified_by",
         "unknown unit kind 'town'"),
        ("    escalates_to: street", "    escalates_to: city", "whistle_levels.community.escalates_to",
         "unknown whistle level 'city'"),
        ("    head_role: dept_head", "    head_role: boss", "unit_kinds.department.head_role", "unknown role 'boss'"),
        ("    review_chain: [section_head, deputy_leader]", "    review_chain: [section_head, vice_mayor]",
         "whistle_levels.community.review_chain.1", "unknown role 'vice_mayor'"),
        ("    review_chain: [section_head, deputy_leader]", "    review_chain: section_head",
         "whistle_levels.community.review_chain", "must be a list of roles, in review order"),
        ("    summoned: true", "    summoned: maybe", "unit_kinds.department.summoned", "must be true or false"),
        ("    label: {zh: 回访员, en: Call-back agent}", "    label: 回访员", "roles.callback_agent.label",
         "needs a label {zh: 中文, en: English}"),
    ],
)
def test_a_bad_model_is_refused_naming_file_line_and_field(old: str, new: str, field: str, message: str) -> None:
    assert old in SHIPPED
    text = SHIPPED.replace(old, new, 1)
    with pytest.raises(LocalityError) as caught:
        parse_locality(text, "locality.yaml")
    line = _line_of(text, new.strip())
    assert str(caught.value).startswith(f"locality.yaml line {line}: {field}: {message}"), str(caught.value)


def test_unknown_sections_and_broken_yaml_are_refused() -> None:
    with pytest.raises(LocalityError, match="line 1: levels: unknown section"):
        parse_locality("levels: {}\n" + SHIPPED)
    with pytest.raises(LocalityError, match="not valid YAML"):
        parse_locality("roles: [unclosed\n")
    with pytest.raises(LocalityError, match="roles: must be a mapping"):
        parse_locality("roles: []\n")


def test_an_edited_model_on_disk_takes_effect_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before anything is deployed (and outside requests and steps) the disk's files are in effect."""
    path = tmp_path / "locality.yaml"
    path.write_text(SHIPPED, encoding="utf-8")
    monkeypatch.setenv("WHISTLE_LOCALITY_FILE", str(path))
    assert "dept_staff" not in load_locality().roles_with("assign")
    path.write_text(SHIPPED.replace("  dept_staff:\n    label: {zh: 部门工作人员, en: Department staff}\n",
                                    "  dept_staff:\n    label: {zh: 部门工作人员, en: Department staff}\n"
                                    "    capabilities: [assign]\n"), encoding="utf-8")
    os.utime(path, ns=(1, 10**18))  # a new modification time even on a coarse clock
    assert "dept_staff" in load_locality().roles_with("assign")


# That the code names no locality's word: tests/unit/test_no_locality_words.py


@pytest.mark.parametrize("chain", ["    review_chain: []\n", ""], ids=["empty", "left_out"])
def test_a_level_without_reviewers_has_an_empty_chain(chain: str) -> None:
    text = SHIPPED.replace("    review_chain: [section_head, deputy_leader]\n", chain)
    assert {level.review_chain for level in parse_locality(text).levels.values()} == {()}


def test_what_a_stage_means_to_the_code_is_data() -> None:
    model = parse_locality(SHIPPED)
    assert model.stages_meaning("review") == {"review"} and model.stages_meaning("rating") == {"callback"}
    renamed = parse_locality(SHIPPED.replace("  callback: {zh: 回访, en: Call-back, means: rating}\n",
                                             "  huifang: {zh: 回访, en: Call-back, means: rating}\n"))
    assert renamed.stages_meaning("rating") == {"huifang"}
    with pytest.raises(LocalityError, match=r"stages\.callback\.means: unknown meaning 'rate'"):
        parse_locality(SHIPPED.replace("means: rating}", "means: rate}"))
