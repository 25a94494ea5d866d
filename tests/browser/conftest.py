"""Browser tests: Playwright (pip) driving Debian's Chromium against a live server.

The server is the real app served by Werkzeug in a thread, on a fresh SQLite database made by the
migrations, with the demo district and the processes/ bundle deployed (what the README's set-up
gives). Chromium is launched headless from /usr/bin/chromium (or $WHISTLE_CHROMIUM) with a fresh
user-data dir (Playwright's own browser download does not work on these machines); without it the
tests are skipped and say why.
Screenshots go to the test's tmp_path; set WHISTLE_DOCS_SCREENSHOTS=<dir> to also keep the ones the
README shows.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api
from werkzeug.serving import make_server

from app import create_app
from app.cli import run_migrations
from app.definitions.versions import deploy_directory
from app.services.org import load_organisation
from app.services.simulate import run_simulation
from app.settings import ROOT, Settings
from tests.conftest import PASSWORD, Api
from tests.integration.flow import Flow

CHROMIUM = Path(os.environ.get("WHISTLE_CHROMIUM", "/usr/bin/chromium"))  # Debian's package puts it here
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 20_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without Chromium every browser test is skipped, saying why (nothing else is affected)."""
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"browser tests need Debian's Chromium at {CHROMIUM} (`apt-get install -y chromium "
               "fonts-noto-cjk`; .ci/run installs it)")
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(skip)


@dataclass
class LiveServer:
    url: str
    app: Any


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{folder / 'whistle.db'}"
    run_migrations(url)
    app = create_app(Settings(database_url=url, testing=True, upload_dir=folder / "uploads"))
    db = app.extensions["whistle.db"]
    with db.unit_of_work() as session:
        load_organisation(session, ROOT / "config" / "demo_org.yaml")
        deploy_directory(session, ROOT / "processes", "browser-tests")
    if os.environ.get("WHISTLE_DOCS_SCREENSHOTS"):  # inboxes with work in them, as in the README's demo
        run_simulation(db, 30)
        _open_work(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        db.dispose()


def _open_work(app: Any) -> None:
    """Open cases for the README's screenshots: reports waiting for triage, and cases dispatched to
    城管执法 with deadlines running (the simulator takes nearly every case to its end)."""
    flow = Flow(Api(app.test_client(), {}))
    for title, matter in [("占道经营影响通行", "street_vending"), ("违规张贴小广告", "illegal_advertising"),
                          ("夜市摊点油烟扰民", "street_vending")]:
        case = flow.report(title=title)
        flow.do("op-dc", case["id"], "triage", {"grade": 2, "matter": matter})
    for title in ("楼道堆放杂物", "路面塌陷", "绿地被占用"):
        flow.report(title=title)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        yield pw


@pytest.fixture()
def browser_page(playwright: Any, tmp_path: Path) -> Iterator[Any]:
    """One page in a Chromium with a fresh profile (user-data dir under this test's tmp_path)."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport=DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai",
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.pages[0] if context.pages else context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # read by tests: a script error on any page fails them
    try:
        yield page
    finally:
        context.close()


@dataclass
class Browser:
    """Drives the pages as the demo users do; every step leaves a numbered screenshot."""

    page: Any
    base: str
    shots: Path
    docs: Path | None = None
    taken: list[Path] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str, doc_name: str | None = None) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{len(self.taken) + 1:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', name)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        if doc_name:
            self.doc_shot(doc_name)
        return path

    def doc_shot(self, name: str, selector: str | None = None) -> None:
        """A screenshot for the README (the visible window, or one element), when asked for."""
        if self.docs is None:
            return
        self.docs.mkdir(parents=True, exist_ok=True)
        if selector:
            self.page.locator(selector).screenshot(path=str(self.docs / name))
        else:
            self.page.evaluate("window.scrollTo(0, 0)")
            self.page.screenshot(path=str(self.docs / name))

    # --- staff ---------------------------------------------------------------------------------

    def login(self, username: str) -> None:
        self.page.set_viewport_size(DESKTOP)
        self.goto("/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("[data-testid=login-submit]")
        self.page.wait_for_selector("[data-testid=who]")
        assert username in self.page.inner_text("[data-testid=who]")

    def logout(self) -> None:
        self.page.click("[data-testid=logout]")
        self.page.wait_for_url(re.compile(r".*/login.*|.*/$"))

    def inbox_row(self, task_type: str, **data: Any) -> Any:
        """The inbox row of this task type whose data-* attributes match, paging on until found."""
        self.goto(f"/?task_type={task_type}")
        attrs = "".join(f'[data-{name.replace("_", "-")}="{value}"]' for name, value in data.items())
        selector = f'tr[data-testid=task-row][data-task-type="{task_type}"]{attrs}'
        while not self.page.locator(selector).count() and self.page.locator("[data-testid=next-page]").count():
            self.page.click("[data-testid=next-page]")
            self.page.wait_for_load_state()
        row = self.page.locator(selector)
        assert row.count() >= 1, f"no {task_type} {data} in the inbox: {self.page.inner_text('main')}"
        return row.first

    def open_task(self, case_id: int, task_type: str) -> None:
        """From the inbox, open this case's (first) task of this type."""
        self.inbox_row(task_type, case_id=case_id).locator("a[data-testid=open-task]").click()
        self.page.wait_for_selector("form#task-form")

    def fill_task_form(self, values: dict[str, Any]) -> None:
        form = self.page.locator("form#task-form")
        for name, value in values.items():
            fields = form.locator(f'[name="{name}"]')
            assert fields.count(), f"the form has no field '{name}'"
            kind = fields.first.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
            if kind == "input:radio":
                form.locator(f'input[name="{name}"][value="{_text(value)}"]').check()
            elif kind == "input:checkbox" and isinstance(value, list):
                for item in value:
                    form.locator(f'input[name="{name}"][value="{_text(item)}"]').check()
            elif kind == "input:checkbox":
                fields.first.set_checked(bool(value))
            elif kind.startswith("select"):
                fields.first.select_option([_text(v) for v in value] if isinstance(value, list) else _text(value))
            elif kind.startswith("textarea") and isinstance(value, list):
                fields.first.fill("\n".join(_text(v) for v in value))
            else:
                fields.first.fill(_text(value))

    def submit_task(self) -> None:
        self.page.click("[data-testid=submit-task]")
        self.page.wait_for_load_state()
        if self.page.locator("[data-testid=form-error]").count():
            problems = self.page.locator(".field-error").all_inner_texts()
            raise AssertionError(f"the task form was refused: {problems}")
        self.page.wait_for_selector("[data-testid=flash]")

    def do_task(self, user: str, case_id: int, task_type: str, values: dict[str, Any], shot: str | None = None,
                inbox_shot: str | None = None, first: Callable[[], None] | None = None) -> None:
        """One step of the lifecycle: log in as the role's user, open the task (do ``first`` there),
        fill the form, submit."""
        self.login(user)
        if inbox_shot:
            self.shot(f"{user}-inbox", inbox_shot)
        self.open_task(case_id, task_type)
        if first is not None:
            first()
        self.fill_task_form(values)
        self.shot(f"{user}-{task_type}-form", shot)
        self.submit_task()
        self.shot(f"{user}-{task_type}-done")
        self.logout()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.fixture()
def browser(browser_page: Any, live_server: LiveServer, tmp_path: Path) -> Iterator[Browser]:
    docs = os.environ.get("WHISTLE_DOCS_SCREENSHOTS")
    driver = Browser(browser_page, live_server.url, tmp_path / "screenshots", Path(docs) if docs else None)
    yield driver
    print(f"\n{len(driver.taken)} screenshots in {driver.shots}")
    assert browser_page.js_errors == [], f"script errors on the pages: {browser_page.js_errors}"
