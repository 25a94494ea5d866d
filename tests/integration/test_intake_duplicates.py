"""Duplicate suggestions at triage: on a seeded set with known pairs, the repeat is found first and
unrelated or far-away cases are not suggested; only cases the caller can see."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from app.intake.duplicates import suggestions, text_similarity
from app.intake.open311 import create_client
from app.models import Open311Client, Open311Request, User
from app.services.auth import principal_for
from app.services.cases import file_report

SEED = [  # (key, place, matter, title, description)
    ("a", "dc-s1-c1-g1", "garbage_overflow", "北门垃圾桶满溢", "和平里小区北门垃圾桶三天没人清运，臭味很大"),
    ("a2", "dc-s1-c1-g1", "garbage_overflow", "小区北门垃圾满了", "和平里北门的垃圾桶好几天没清运了，很臭"),
    ("b", "dc-s1-c1-g2", "noise_nuisance", "夜间施工噪声", "工地晚上十一点还在施工"),
    ("c", "dc-s1-c2-g1", "garbage_overflow", "垃圾桶满溢", "兴华社区垃圾桶三天没人清运"),  # another community
    ("d", "dc-s1-c1-g2", "garbage_overflow", "垃圾满溢", "和平里二号楼前垃圾桶满溢没人清运"),  # beside, same matter
    ("a3", "dc-s1-c1-g2", "garbage_overflow", "北门垃圾桶满溢", "和平里小区北门垃圾桶三天没人清运，臭味很大"),
]


def _seed(app: Flask) -> dict[str, int]:
    ids = {}
    with app.extensions["whistle.db"].unit_of_work() as s:
        worker = principal_for(s, s.scalar(select(User).where(User.username == "op-dc")))
        for key, place, matter, title, description in SEED:
            case = file_report(s, worker, {"title": title, "description": description, "place": place,
                                           "matter": matter, "channel": "hotline_12345"})
            ids[key] = case.id
    return ids


def _suggest(app: Flask, username: str, case_id: int) -> list[dict]:
    with app.extensions["whistle.db"].unit_of_work() as s:
        return suggestions(s, principal_for(s, s.scalar(select(User).where(User.username == username))), case_id)


def test_known_pairs_are_found_first_and_others_left_out(own_app: Flask) -> None:
    ids = _seed(own_app)
    found = _suggest(own_app, "op-dc", ids["a"])
    # the same words on the next grid first, then the same problem in other words on the same grid
    assert [f["id"] for f in found] == [ids["a3"], ids["a2"]]
    assert found[0]["why"] == {"same_matter": True, "same_area": True, "text": 1.0}
    assert found[1]["why"]["same_matter"] and found[1]["why"]["same_place"] and found[1]["why"]["text"] > 0.4
    assert found[0]["score"] > found[1]["score"] >= 0.7
    # other matter (b), other community (c), a neighbour in other words (d): none suggested


def test_only_cases_the_caller_sees(own_app: Flask) -> None:
    ids = _seed(own_app)
    api = own_app.test_client()
    token = api.post("/api/tokens", json={"username": "gw-s2c1g1", "password": "demo1234"}).get_json()["token"]
    resp = api.get(f"/api/cases/{ids['a2']}/duplicates", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 404  # not their case: no hint that it exists
    token = api.post("/api/tokens", json={"username": "op-s1", "password": "demo1234"}).get_json()["token"]
    resp = api.get(f"/api/cases/{ids['a2']}/duplicates", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.get_json()["items"][0]["id"] == ids["a"]


def test_text_similarity() -> None:
    assert text_similarity("垃圾桶满溢", "垃圾桶满溢") == 1.0
    assert text_similarity("", "x") == 0.0
    assert text_similarity("垃圾桶满溢", "夜间施工噪声") < 0.2


def test_reports_close_by_coordinates_are_suggested_wherever_they_lie(own_app: Flask) -> None:
    spots = [("a", "dc-s1-c1-g1", 39.9581, 116.4182), ("near", "dc-s1-c2-g1", 39.9585, 116.4190),
             ("far", "dc-s1-c2-g1", 39.9900, 116.4500)]  # the same words in another community
    ids = {}
    with own_app.extensions["whistle.db"].unit_of_work() as s:
        operator = principal_for(s, s.scalar(select(User).where(User.username == "op-dc")))
        create_client(s, "map-app")
        client = s.scalar(select(Open311Client).where(Open311Client.name == "map-app"))
        for key, place, lat, long in spots:
            case = file_report(s, operator, {"title": "北门垃圾桶满溢", "description": "垃圾桶三天没人清运",
                                             "place": place, "matter": "garbage_overflow", "channel": "web"})
            s.add(Open311Request(case_id=case.id, client_id=client.id, token=f"t-{key}", lat=lat, long=long))
            ids[key] = case.id
    found = _suggest(own_app, "op-dc", ids["a"])
    assert [f["id"] for f in found] == [ids["near"]]
    assert 60 < found[0]["why"]["near_m"] < 100 and "same_area" not in found[0]["why"]
