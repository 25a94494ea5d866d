"""Structural checks of the demo organisation and the responsibility catalogue (config/*.yaml)."""

from __future__ import annotations

from collections import Counter
from numbers import Real
from pathlib import Path

import pytest
import yaml

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"

KINDS = {"district", "street", "community", "grid", "department"}
PARENT_KIND = {
    "district": None,
    "street": "district",
    "community": "street",
    "grid": "community",
    "department": "district",
}
SITUATIONS = {"enforcement", "key_work", "emergency", "fallback"}
REQUIRED_DEPTS = {
    "dept-cgzf",
    "dept-hw",
    "dept-zj",
    "dept-scjg",
    "dept-ga",
    "dept-yjgl",
    "dept-zrzy",
    "dept-jtys",
    "dept-wj",
    "dept-sw",
    "dept-yllh",
    "dept-xfjy",
}
ROLES = {
    "grid_worker",
    "secretary",
    "whistle_staff",
    "section_head",
    "deputy_leader",
    "platform_operator",
    "dept_staff",
    "dept_head",
    "callback_agent",
    "auditor",
    "admin",
}
# role -> unit kinds where it must exist at every unit of that kind
ROLES_AT_EVERY = {
    "grid_worker": {"grid"},
    "secretary": {"community", "street", "district"},
    "whistle_staff": {"community", "street", "district"},
    "section_head": {"community", "street", "district"},
    "deputy_leader": {"community", "street", "district"},
    "platform_operator": {"street", "district"},
    "dept_staff": {"department"},
    "dept_head": {"department"},
    "callback_agent": {"district"},
    "auditor": {"district"},
    "admin": {"district"},
}


def _load(name: str):
    with (CONFIG_DIR / name).open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def org():
    return _load("demo_org.yaml")


@pytest.fixture(scope="module")
def catalogue():
    return _load("catalogue.yaml")


@pytest.fixture(scope="module")
def units(org):
    return {u["code"]: u for u in org["units"]}


def _of_kind(units, kind):
    return [u for u in units.values() if u["kind"] == kind]


def _username_suffix(code: str) -> str:
    """dc -> dc, dc-s1 -> s1, dc-s1-c2 -> s1c2, dc-s1-c2-g1 -> s1c2g1."""
    return "dc" if code == "dc" else code.removeprefix("dc-").replace("-", "")


# ------------------------------------------------------------------ unit tree


def test_unit_codes_unique(org):
    codes = [u["code"] for u in org["units"]]
    dupes = [c for c, n in Counter(codes).items() if n > 1]
    assert not dupes


def test_unit_fields_and_kinds(org):
    for u in org["units"]:
        assert set(u) >= {"code", "name", "kind", "parent"}, u
        assert isinstance(u["code"], str) and u["code"].isascii(), u
        assert isinstance(u["name"], str) and u["name"].strip(), u
        assert u["kind"] in KINDS, u


def test_single_district_matches_header(org, units):
    districts = _of_kind(units, "district")
    assert len(districts) == 1
    assert districts[0]["parent"] is None
    assert org["district"]["code"] == districts[0]["code"]
    assert org["district"]["name"]


def test_parents_exist_and_kinds_nest(units):
    for u in units.values():
        expected = PARENT_KIND[u["kind"]]
        if expected is None:
            assert u["parent"] is None, u
            continue
        assert u["parent"] in units, f"{u['code']}: parent {u['parent']} missing"
        assert units[u["parent"]]["kind"] == expected, u


def test_unit_code_scheme(units):
    for u in units.values():
        if u["kind"] == "department":
            assert u["code"].startswith("dept-"), u
        elif u["kind"] != "district":
            assert u["code"].startswith(u["parent"] + "-"), u


def test_tree_counts(units):
    streets = _of_kind(units, "street")
    assert len(streets) >= 3
    for s in streets:
        comms = [u for u in units.values() if u["parent"] == s["code"] and u["kind"] == "community"]
        assert len(comms) >= 2, s["code"]
    for c in _of_kind(units, "community"):
        grids = [u for u in units.values() if u["parent"] == c["code"] and u["kind"] == "grid"]
        assert len(grids) >= 2, c["code"]
    assert len(_of_kind(units, "community")) >= 6


def test_departments(units):
    depts = {u["code"] for u in _of_kind(units, "department")}
    assert len(depts) >= 12
    assert depts >= REQUIRED_DEPTS, REQUIRED_DEPTS - depts


# ------------------------------------------------------------------ users


def test_usernames_unique_and_ascii(org):
    names = [u["username"] for u in org["users"]]
    assert not [n for n, k in Counter(names).items() if k > 1]
    assert all(n.isascii() and n == n.lower() and " " not in n for n in names)


def test_user_fields(org, units):
    for user in org["users"]:
        assert user["password"] == "demo1234", user["username"]
        assert isinstance(user["name"], str) and user["name"].strip()
        assert user["roles"], user["username"]
        for r in user["roles"]:
            assert r["role"] in ROLES, (user["username"], r)
            assert r["unit"] in units, (user["username"], r)
            assert units[r["unit"]]["kind"] in ROLES_AT_EVERY[r["role"]], (user["username"], r)


def test_every_role_filled_at_every_unit(org, units):
    held = {(r["role"], r["unit"]) for user in org["users"] for r in user["roles"]}
    missing = [
        (role, u["code"])
        for role, kinds in ROLES_AT_EVERY.items()
        for u in units.values()
        if u["kind"] in kinds and (role, u["code"]) not in held
    ]
    assert not missing


def test_username_scheme(org, units):
    """The documented, predictable username scheme (see the comment block in demo_org.yaml)."""
    by_name = {u["username"]: {(r["role"], r["unit"]) for r in u["roles"]} for u in org["users"]}
    expected = {}
    for u in units.values():
        sfx = _username_suffix(u["code"])
        if u["kind"] == "grid":
            expected[f"gw-{sfx}"] = ("grid_worker", u["code"])
        elif u["kind"] in {"community", "street", "district"}:
            expected[f"sec-{sfx}"] = ("secretary", u["code"])
            expected[f"staff-{sfx}"] = ("whistle_staff", u["code"])
            expected[f"section-{sfx}"] = ("section_head", u["code"])
            expected[f"deputy-{sfx}"] = ("deputy_leader", u["code"])
            if u["kind"] != "community":
                expected[f"op-{sfx}"] = ("platform_operator", u["code"])
        elif u["kind"] == "department":
            d = u["code"].removeprefix("dept-")
            expected[f"{d}-head"] = ("dept_head", u["code"])
            expected[f"{d}-staff"] = ("dept_staff", u["code"])
    district = _of_kind(units, "district")[0]["code"]
    expected["callback"] = ("callback_agent", district)
    expected["auditor"] = ("auditor", district)
    expected["admin"] = ("admin", district)
    for username, role_unit in expected.items():
        assert username in by_name, username
        assert role_unit in by_name[username], username
    for spot in ("gw-s1c1g1", "sec-s1c1", "sec-s1", "op-s1", "sec-dc", "op-dc", "cgzf-staff", "cgzf-head"):
        assert spot in by_name


# ------------------------------------------------------------------ catalogue


def test_classes(catalogue):
    codes = [c["code"] for c in catalogue["classes"]]
    assert len(codes) == 7
    assert len(set(codes)) == 7
    assert all(c["name"] for c in catalogue["classes"])


def test_matter_counts(catalogue):
    matters = catalogue["matters"]
    assert len(matters) >= 24
    codes = [m["code"] for m in matters]
    assert len(set(codes)) == len(codes)
    per_class = Counter(m["class"] for m in matters)
    for c in catalogue["classes"]:
        assert per_class[c["code"]] >= 2, c["code"]
    assert set(per_class) <= {c["code"] for c in catalogue["classes"]}


def test_matter_departments_exist(catalogue, units):
    depts = {u["code"] for u in _of_kind(units, "department")}
    for m in catalogue["matters"]:
        assert m["lead"] in depts, m["code"]
        coop = m["cooperating"]
        assert isinstance(coop, list), m["code"]
        assert len(coop) <= 3, m["code"]
        assert len(set(coop)) == len(coop), m["code"]
        assert m["lead"] not in coop, m["code"]
        for d in coop:
            assert d in depts, (m["code"], d)


def test_most_matters_have_cooperating_departments(catalogue):
    matters = catalogue["matters"]
    with_coop = [m for m in matters if m["cooperating"]]
    assert len(with_coop) > len(matters) / 2


def _positive(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and v > 0


def test_matter_hours_and_situation(catalogue):
    for m in catalogue["matters"]:
        assert m["name"], m["code"]
        assert _positive(m["report_in_hours"]), m["code"]
        assert _positive(m["report_in_hours_urgent"]), m["code"]
        assert m["report_in_hours_urgent"] <= m["report_in_hours"], m["code"]
        assert _positive(m["handle_hours"]), m["code"]
        assert 4 <= m["handle_hours"] <= 160, m["code"]
        assert m["situation"] in SITUATIONS, m["code"]


def test_all_situations_used(catalogue):
    assert {m["situation"] for m in catalogue["matters"]} == SITUATIONS


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("**/catalogue.yaml")), ids=lambda p: p.parent.name)
def test_every_catalogue_names_its_classes_and_matters_in_english(path: Path) -> None:
    """The pages in English show name_en: a pack without it left categories and matters in Chinese."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    unnamed = [entry["code"] for entry in data["classes"] + data["matters"] if not entry.get("name_en")]
    assert not unnamed, f"{path}: no name_en for {unnamed}"
