"""The whole lifecycle of a community whistle, clicked through the pages by each role's demo user.

A citizen reports a problem with a photo on the public page (on a phone-sized screen); the district
platform triages it; the community's staff prepares the whistle and the review chain approves, the
secretary blowing the whistle; each summoned department reports in, the community coordinates, the
departments handle and the lead department's head confirms; the street platform verifies, the
community feeds back, the reporter rates satisfaction on the tracking page, and the secretary rates
each department. Steps and form values follow tests/integration/flow.py (the API version of it).
"""

from __future__ import annotations

import io
import re

from PIL import Image, ImageDraw

from tests.browser.conftest import PHONE, Browser
from tests.integration.flow import APPROVE, FORMS, GRID

# The departments the illegal-advertising matter summons (lead 城管执法, cooperating 环卫), by user prefix.
DEPARTMENTS = ["cgzf", "hw"]


def phone_photo(billboard: bool = True) -> bytes:
    """A made-up street scene: sky, pavement, a wall with (or cleared of) an unlicensed billboard."""
    image = Image.new("RGB", (1200, 900), (150, 190, 230))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 620, 1200, 900), fill=(120, 120, 120))
    draw.rectangle((80, 250, 1120, 620), fill=(200, 180, 150))
    if billboard:
        draw.rectangle((300, 320, 900, 520), fill=(220, 40, 40), outline=(250, 220, 0), width=12)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def citizen_reports(b: Browser) -> tuple[str, str]:
    """The public report page on a phone: place pickers, text, a camera photo → tracking code and
    case number."""
    b.page.set_viewport_size(PHONE)
    b.goto("/report")
    b.page.select_option("select[name=place_1]", "dc-s1")  # 街道
    b.page.select_option("select[name=place_2]", "dc-s1-c1")  # 社区
    b.page.select_option("select[name=place]", GRID)  # 网格
    b.page.fill("input[name=address]", "和平里东街 3 号楼北侧")
    b.page.fill("input[name=title]", "小区交界处违规广告牌")
    b.page.fill("textarea[name=description]", "三个小区交界处的违规广告屡禁不止，影响通行。")
    b.page.set_input_files("input[name=photo]", files=[
        {"name": "IMG_20261121_0930.jpg", "mimeType": "image/jpeg", "buffer": phone_photo()}])
    b.page.fill("input[name=reporter_name]", "陈女士")
    b.page.fill("input[name=reporter_phone]", "13800000000")
    b.shot("citizen-report-form")
    b.page.click("[data-testid=report-submit]")
    b.page.wait_for_selector("[data-testid=report-received]")
    code = b.page.inner_text("[data-testid=report-received] [data-testid=tracking-code]").strip()
    assert re.fullmatch(r"[0-9A-F]{16}", code), code
    assert b.page.locator("[data-testid=attachment-thumb]").count() == 1  # her photo is shown back to her
    b.shot("citizen-tracking-code")
    number = b.page.locator("dt:has-text('编号') + dd").first.inner_text().strip()
    return code, number


def triaged_case_id(b: Browser, number: str) -> int:
    """The district platform operator finds the new report in the inbox and triages it."""
    b.login("op-dc")
    case_id = int(b.inbox_row("triage", case_number=number).get_attribute("data-case-id") or 0)
    b.goto("/")
    b.shot("op-dc-inbox")
    b.logout()
    b.do_task("op-dc", case_id, "triage", FORMS["triage_whistle"])
    return case_id


def secretary_watches_the_whistle(b: Browser, case_id: int) -> None:
    """Mid-whistle the case page shows who has reported in, and the diagram where the tokens are."""
    b.login("sec-s1c1")
    b.goto(f"/cases/{case_id}")
    b.page.wait_for_selector("[data-testid=diagram][data-process=whistle][data-state=ready]")
    assert b.page.locator(".djs-element.state-active[data-element-id=report_in]").count() == 1
    assert b.page.locator(".djs-element.state-completed[data-element-id=review_head]").count() == 1
    assert b.page.locator("[data-testid=report-ins] tr").count() >= 3  # a header and both departments
    b.shot("sec-s1c1-case-during-report-in", "case.png")
    b.doc_shot("diagram.png", "[data-testid=diagram]")
    b.logout()


def photograph_the_result(b: Browser) -> None:
    """On the task page, on a phone: take a photo of the cleared wall with the camera button and
    show it to the reporter (随手拍)."""
    b.page.set_viewport_size(PHONE)
    b.page.set_input_files("[data-testid=camera-input]", files=[
        {"name": "image.jpg", "mimeType": "image/jpeg", "buffer": phone_photo(billboard=False)}])
    b.page.check("[data-testid=attachment-public]")
    b.shot("cgzf-staff-photo-before-upload")
    b.page.click("[data-testid=upload-submit]")
    b.page.wait_for_selector("[data-testid=flash]")
    assert b.page.locator("[data-testid=attachment]").count() == 2, b.page.inner_text("[data-testid=attachments]")
    b.page.wait_for_selector("form#task-form")  # back on the task page, the form still to fill
    b.shot("cgzf-staff-photo-uploaded")


def test_whole_lifecycle_through_the_pages(browser: Browser) -> None:
    b = browser
    code, number = citizen_reports(b)
    case_id = triaged_case_id(b, number)

    # 吹哨: the community's whistle staff prepares, the review chain approves, the secretary whistles
    b.do_task("staff-s1c1", case_id, "prepare_whistle", FORMS["prepare_whistle"])
    # (one diagram task walks the level's chain from config/locality.yaml; its title names the step)
    b.do_task("section-s1c1", case_id, "review", APPROVE,
              first=lambda: b.page.wait_for_selector("#task-title:has-text('专项负责人审核')"))
    b.do_task("deputy-s1c1", case_id, "review", APPROVE,
              first=lambda: b.page.wait_for_selector("#task-title:has-text('分管领导审核')"))
    b.do_task("sec-s1c1", case_id, "review_head", APPROVE)

    # 报到: each summoned department reports in; the community coordinates; they handle
    b.do_task("cgzf-staff", case_id, "report_in", FORMS["report_in"], inbox_shot="inbox.png")
    secretary_watches_the_whistle(b, case_id)
    b.do_task("hw-staff", case_id, "report_in", FORMS["report_in"])
    b.do_task("staff-s1c1", case_id, "coordinate", FORMS["coordinate"])
    b.do_task("cgzf-staff", case_id, "handle", FORMS["handle"], first=lambda: photograph_the_result(b))
    b.do_task("hw-staff", case_id, "handle", FORMS["handle"])
    b.do_task("cgzf-head", case_id, "lead_confirm", FORMS["lead_confirm"])

    # 核实结案: the street platform verifies on site, the community tells the reporter
    b.do_task("op-s1", case_id, "verify", FORMS["verify_ok"])
    b.do_task("staff-s1c1", case_id, "feedback", FORMS["feedback"])

    # 回访: the reporter rates the result on the tracking page (phone)
    b.page.set_viewport_size(PHONE)
    b.goto(f"/track/{code}")
    b.page.wait_for_selector("#rate-form")
    b.page.check("#rate-form input[name=satisfaction][value=satisfied]")
    b.page.fill("#rate-form textarea[name=comment]", "处理及时，很满意")
    b.shot("citizen-rates")
    b.page.click("[data-testid=rate-submit]")
    b.page.wait_for_selector("[data-testid=satisfaction]")
    assert b.page.locator("#rate-form").count() == 0
    page_text = b.page.inner_text("main")
    assert "cgzf-staff" not in page_text and "13800000000" not in page_text  # no staff names, no phone
    b.shot("citizen-rated")

    # 一哨一考: the whistling community's secretary rates each department
    for index, _ in enumerate(DEPARTMENTS):
        b.do_task("sec-s1c1", case_id, "evaluate", FORMS["evaluate"], shot="task.png" if index == 0 else None)

    # the case page: closed, every step on the timeline, the diagram with nothing left to do
    b.login("sec-s1c1")
    b.goto(f"/cases/{case_id}")
    b.page.wait_for_selector("[data-testid=diagram][data-state=ready]")
    assert b.page.locator("[data-testid=case-status].closed").count() == 1, b.page.inner_text("main")
    assert b.page.locator(".djs-element.state-active").count() == 0
    assert b.page.locator(".djs-element.state-completed[data-element-id=call_whistle]").count() == 1
    b.page.click("[data-testid=diagram-tabs] button[data-process=whistle]")
    b.page.wait_for_selector("[data-testid=diagram][data-process=whistle][data-state=ready]")
    for element in ("review_head", "report_in", "coordinate", "handle", "verify", "evaluate"):
        assert b.page.locator(f".djs-element.state-completed[data-element-id={element}]").count() == 1, element
    assert b.page.locator(".djs-element.state-active").count() == 0
    assert b.page.locator("[data-testid=attachment-thumb]").count() == 2
    assert b.page.locator(".bjs-powered-by").is_visible()
    b.shot("sec-s1c1-case-closed")
    b.goto("/")
    assert b.page.locator(f'tr[data-testid=task-row][data-case-id="{case_id}"]').count() == 0
    b.logout()

    b.goto(f"/track/{code}")
    assert b.page.locator("[data-testid=satisfaction]").is_visible()
    assert b.page.locator("[data-testid=attachment-thumb]").count() == 2  # hers and the public result photo
    b.shot("citizen-final-status")
