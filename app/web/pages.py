"""Staff pages: login, my inbox, a task with its form, a case with its timeline and comments.

Each view translates HTTP into one call of the same services the JSON API uses; a ServiceError
becomes the error page with its status, a validation error is shown next to the fields.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, default_exceptions

from app.api import db, login_limits, unit_of_work
from app.assessment import pushes
from app.assessment.rating_anchors import load_anchors
from app.attachments import service as attachment_service
from app.attachments.pages import accepts_uploads, panel, upload_folder, uploads_from
from app.intake.merging import triage_panel
from app.models import Case, Task, User
from app.services import auth, cases, comments, lookups, tasks
from app.services import case_list as case_list_service
from app.services import login as login_service
from app.services.auth import Principal
from app.services.errors import Conflict, Invalid, ServiceError, TooMany
from app.services.locality import load_locality
from app.services.names import OUTCOMES
from app.services.record_keys import RESPONDING_UNIT
from app.web import bp, timeline
from app.web.forms import division_input, fields_of, parse, short_message
from app.web.i18n import LANGUAGES, init_web
from app.web.labels import bilingual, is_english, label, template_helpers, when
from app.web.session import LoginRequired, log_in, log_out, login_redirect, page, safe_next, staff

PER_PAGE = 20
WHEREABOUTS_SHOWN = 3  # open steps named after a submission; more are counted
bp.record_once(lambda state: init_web(state.app))


@bp.app_context_processor
def _helpers() -> dict[str, Any]:
    return template_helpers() | {"languages": LANGUAGES}


# Everything a page loads comes from the app itself (no CDN); no inline script may run, so a text that
# slipped through escaping still could not execute. Styles may be inline (the diagram viewer sets them).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
       "frame-ancestors 'none'")


@bp.after_app_request
def _page_headers(response: Any) -> Any:
    if response.mimetype == "text/html" and not request.path.startswith("/api"):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


# --- errors --------------------------------------------------------------------------------------


def error_page(status: int, message: str) -> Any:
    """The error page in the reader's language: what happened in a sentence for the status, and the
    service's own message (often English, for support) beneath it when it adds something."""
    titles = {400: _("请求有误"), 403: _("无权访问"), 404: _("未找到"), 405: _("不支持的操作"),
              409: _("操作冲突"), 413: _("内容过大"), 422: _("填写有误"), 429: _("请求过于频繁")}
    explanations = {404: _("找不到这个页面或案件：地址可能有误，或者您无权查看。"),
                    405: _("这个地址不支持这种操作。"), 403: _("您的角色不能进行这项操作。")}
    title = titles.get(status, _("出错了"))
    explanation = explanations.get(status)
    # a 404 says no more than the explanation (which case or task was not found is in the address)
    detail = "" if explanation and (status == 404 or _is_default_text(status, message)) else message
    return render_template("error.html", status=status, title=title, explanation=explanation,
                           message=detail), status


def _is_default_text(status: int, message: str) -> bool:
    """Werkzeug's stock English description of a status: nothing to add to the explanation."""
    stock = default_exceptions.get(status)
    return not message or (stock is not None and stock.description == message)


@bp.errorhandler(LoginRequired)
def _login_required(_exc: LoginRequired) -> Any:
    return login_redirect()


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Any:
    page, status = error_page(exc.status, exc.message)
    return page, status, {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooMany) else {}


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> Any:
    return error_page(400, _("表单已过期或缺少安全令牌，请返回刷新页面后重试。"))


def web_http_error(exc: HTTPException) -> Any:
    """The page for routing errors outside /api (unknown address, wrong method)."""
    return error_page(exc.code or 500, exc.description or "")


# --- login, language -----------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    target = safe_next(request.values.get("next"))
    error = None
    status, headers = 200, {}
    if request.method == "POST":
        try:
            user_id = login_service.attempt(db(), request.form.get("username", ""), request.form.get("password", ""),
                                    request.remote_addr, login_limits())
            with unit_of_work() as s:
                log_in(s, s.get(User, user_id))
            return redirect(target)
        except TooMany as exc:
            error, status = _("登录失败次数过多，请 %(n)d 秒后再试", n=exc.retry_after), 429
            headers["Retry-After"] = str(exc.retry_after)
        except ServiceError:
            error, status = _("用户名或密码错误"), 401
    return render_template("login.html", error=error, next=target), status, headers


@bp.post("/logout")
def logout() -> Any:
    with unit_of_work() as s:
        log_out(s)
    flash(_("已退出登录"))
    return redirect(url_for("web.login"))


@bp.get("/lang/<code>")
def set_language(code: str) -> Any:
    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(safe_next(request.args.get("next")))


# --- inbox ---------------------------------------------------------------------------------------


@bp.get("/")
@page
def inbox(s: Session, principal: Principal) -> Any:
    args = request.args
    try:
        flt = _inbox_filter(args)
    except Invalid:  # a cursor mangled in the address: the first page
        flt = _inbox_filter({k: v for k, v in args.items() if k not in ("after", "before")})
    result = tasks.inbox(s, principal, flt)
    pages = max(1, -(-result["total"] // PER_PAGE))
    return render_template(
        "inbox.html", result=result, flt=flt, pages=pages, me=principal.user,
        task_titles=_task_titles(s, result), categories=lookups.categories(is_english()),
        query={k: v for k, v in args.items() if k not in ("page", "after", "before", "last") and v},
        type_query={k: v for k, v in args.items() if k not in ("page", "task_type", "after", "before", "last") and v},
    )


def _inbox_filter(args: Any) -> tasks.InboxFilter:
    return tasks.InboxFilter.from_query(
        args, overdue=args.get("overdue") in ("1", "true", "on"), mine=args.get("mine") in ("1", "true", "on"),
        page=_page_number(args.get("page")), per_page=PER_PAGE,
    )


def _page_number(raw: str | None) -> int:
    try:
        return min(max(int(raw or 1), 1), 100_000)
    except ValueError:
        return 1


def _task_titles(s: Session, result: dict[str, Any]) -> dict[str, str]:
    """A title per task type for the group chips: from the rows of this page, else the process."""
    titles = {item["task_type"]: item["title"] for item in result["items"]}
    if set(result["counts"]) - set(titles):
        titles = lookups.task_titles(s) | titles
    return {task_type: titles.get(task_type, task_type) for task_type in result["counts"]}


@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int) -> Any:
    return _claiming(task_id, tasks.claim, _("已签收任务"))


@bp.post("/tasks/<int:task_id>/unclaim")
def unclaim(task_id: int) -> Any:
    return _claiming(task_id, tasks.unclaim, _("已退回签收"))


def _claiming(task_id: int, action: Any, done: str) -> Any:
    """Claim or give back; someone else got there first (409) is said on the inbox, not an error page."""
    back = safe_next(request.form.get("next"), url_for("web.inbox"))
    try:
        with staff() as (s, principal):
            action(s, principal, task_id)
        flash(done)
    except Conflict as exc:
        flash(exc.message, "error")
    return redirect(back)


@bp.post("/tasks/<int:task_id>/assign")
def assign(task_id: int) -> Any:
    """指派: a head of the unit (or a holder of the task's role) hands the task to a colleague."""
    try:
        with staff() as (s, principal):
            task = tasks.assign(s, principal, task_id, request.form.get("username") or None)
            flash(_("已指派给 %(who)s", who=task.assignee.name if task.assignee else ""))
    except (Conflict, Invalid) as exc:
        flash(exc.message, "error")
    return redirect(url_for("web.task_page", task_id=task_id))


def _assignees(s: Session, principal: Principal, task: Task) -> list[Any]:
    """Who this user may hand the task to; empty when they may not assign it (the service decides)
    or when nobody but themself could take it."""
    if task.status != "open" or not (principal.holds(task.role, task.unit_id) or tasks.may_assign(principal, task)):
        return []
    users = auth.users_holding(s, task.role, task.unit_id)
    return [] if [u.id for u in users] == [principal.user.id] else users


# --- a task and its form -------------------------------------------------------------------------


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@accepts_uploads
def task_page(task_id: int) -> Any:
    errors: dict[str, str] = {}
    message = None
    if request.method == "POST":
        try:
            with staff() as (s, principal):
                whereabouts = _whereabouts(s, _complete(s, principal, task_id))
            flash(_("已提交，任务已完成"))
            flash(whereabouts)
            return redirect(url_for("web.inbox"))
        except Invalid as exc:  # rolled back whole: show the form again with the messages
            errors = {name.split(".")[0] or "": short_message(text) for name, text in exc.fields.items()}
            message = exc.message
        except Conflict as exc:  # done or claimed by someone else meanwhile: nothing to fill in any more
            flash(exc.message, "error")
            return redirect(url_for("web.inbox"))
    with staff() as (s, principal):
        detail = tasks.task_detail(s, principal, task_id)  # 404 unless this user may see the task
        task = s.get(Task, task_id)
        case = task.case
        schema = detail["form_schema"] or {"properties": {}}
        status = 422 if errors else 200
        fields = fields_of(schema, _task_pickers(_pickers(s), detail["context"] or {}))
        labels = lookups.form_labels(s, case)
        return render_template(
            "task.html", task=detail, case=detail["case"], fields=fields,
            values=request.form if request.method == "POST" else prefill(fields, detail["context"] or {}),
            errors=errors, message=message,
            units=lookups.unit_names(s), attachments_panel=panel(s, principal, case, task_id), case_id=case.id,
            me=principal.user, form_labels=labels, timeline=timeline.entries(s, detail["case"], labels),
            assignees=_assignees(s, principal, task), duplicates=triage_panel(s, principal, task),
            rating_anchors=load_anchors() if any(f.kind == "rating" for f in fields) else (),
        ), status


Pickers = dict[str, list[tuple[str, str]]]


def _task_pickers(pickers: Pickers, context: dict[str, Any]) -> Pickers:
    """The pickers for this task's data: where it proposes departments for a whistle, those may be
    removed and only the others added."""
    proposed = [(d["code"], d["name"]) for d in context.get("departments") or []]
    if not proposed:
        return pickers
    others = [option for option in pickers[RESPONDING_UNIT] if option not in proposed]
    return pickers | {"summoned": proposed, RESPONDING_UNIT: others}


def prefill(fields: list[Any], context: dict[str, Any]) -> MultiDict[str, str]:
    """The inputs as last submitted, where the task's context keeps them (a returned whistle's
    materials come back filled in, not empty)."""
    values: MultiDict[str, str] = MultiDict()
    for f in fields:
        value = context.get(f.name)
        if value is None or value == "" or f.kind == "attachments":
            continue
        if f.kind == "division" and isinstance(value, list):
            for row in value:
                for part in ("task", "due"):
                    if isinstance(row, dict) and row.get(part):
                        values.add(division_input(f.name, part, str(row.get(RESPONDING_UNIT))), str(row[part]))
            continue
        if isinstance(value, list) and f.kind == "multi":
            values.setlist(f.name, [str(v) for v in value])
        elif isinstance(value, list):
            values.add(f.name, "\n".join(str(v) for v in value))
        elif isinstance(value, bool):
            values.add(f.name, "true" if value else "false")
        else:
            values.add(f.name, str(value))
    return values


def _whereabouts(s: Session, case_id: int) -> str:
    """What the person who completed a step is told about where the case went: dispatched to a
    department, to a review at a unit, waiting for a timer (a call-back tried later), or closed."""
    where = cases.whereabouts(s, case_id)
    number = where.case.number
    if where.case.status == "closed":
        return _("案件 %(number)s 已结案：%(outcome)s", number=number, outcome=label(OUTCOMES, where.case.outcome))
    if where.steps:
        shown = "；".join(f"{unit} · {bilingual(title)}" for title, unit in where.steps[:WHEREABOUTS_SHOWN])
        if len(where.steps) > WHEREABOUTS_SHOWN:
            shown += _("等 %(n)d 项", n=len(where.steps))
        return _("案件 %(number)s 已转到：%(steps)s", number=number, steps=shown)
    if where.waits:
        title, due = where.waits[0]
        return _("案件 %(number)s 等待中：%(title)s（%(due)s）", number=number, title=bilingual(title), due=when(due))
    return _("案件 %(number)s 正在等待下一步", number=number)


def _complete(s: Session, principal: Principal, task_id: int) -> int:
    detail = tasks.task_detail(s, principal, task_id)
    schema = detail["form_schema"] or {"properties": {}}
    data = parse(schema, request.form)
    task = s.get(Task, task_id)
    for f in fields_of(schema):
        if f.kind == "attachments" and (stored := store_uploads(s, principal, task.case, f.name, task)):
            data[f.name] = stored
    return int(tasks.complete(s, principal, task_id, data)["case"])


def store_uploads(s: Session, principal: Principal, case: Case, name: str, task: Task | None = None,
                  uploads: list[attachment_service.Upload] | None = None) -> list[str]:
    """Store the files posted in input ``name`` (or ``uploads`` read from it) as this user's; a form's
    field holds their ids."""
    if uploads is None:
        uploads = uploads_from(request.files.getlist(name), name)
    return [str(attachment_service.store(s, case, u, principal.user, folder=upload_folder(), task=task,
                                         field=name).id) for u in uploads]


def _pickers(s: Session) -> dict[str, list[tuple[str, str]]]:
    return {RESPONDING_UNIT: lookups.departments(s),
            "matter": [(code, f"{name}（{klass}）") for code, name, klass in lookups.matters(is_english())],
            "whistle_level": [(code, level.label.text(is_english())) for code, level in load_locality().levels.items()]}


# --- a case --------------------------------------------------------------------------------------


@bp.get("/cases")
@page
def case_list(s: Session, principal: Principal) -> Any:
    """案件查询: the cases within the user's scope. The search box sends ``number``: a whole number of a
    case the user may see opens it, anything else (part of a number, a title) is searched for."""
    number = request.args.get("number")
    if number is not None:
        return redirect(_case_or_search(s, principal, number.strip()))
    error, status = None, 200
    try:
        query = case_list_service.parse_query(request.args)
        result = case_list_service.list_cases(s, principal, query)
    except Invalid as exc:
        query, error, status = case_list_service.CaseQuery(), exc.message, 422
        result = case_list_service.list_cases(s, principal, query)
    return render_template(
        "case_list.html", result=result, q=query, error=error, me=principal.user,
        categories=lookups.categories(is_english()), matters=lookups.matters(is_english()),
        scope_units=lookups.scope_units(s, principal),
        may_search_phone=principal.can("see_contact"),
        query={k: v for k, v in request.args.items() if k != "page" and v},
    ), status


def _case_or_search(s: Session, principal: Principal, number: str) -> str:
    case_id = lookups.case_id_by_number(s, number)
    if case_id is not None and cases.can_see(s, principal, s.get(Case, case_id)):
        return url_for("web.case_page", case_id=case_id)
    return url_for("web.case_list", q=number) if number else url_for("web.case_list")


@bp.get("/cases/<int:case_id>")
@page
def case_page(s: Session, principal: Principal, case_id: int) -> Any:
    return _render_case(s, principal, case_id)


@bp.post("/cases/<int:case_id>/comments")
def add_comment(case_id: int) -> Any:
    try:
        with staff() as (s, principal):
            comments.add_comment(s, principal, case_id, request.form.get("body", ""),
                                 request.form.get("public") in ("1", "true", "on"))
        flash(_("已添加跟哨记录"))
        return redirect(url_for("web.case_page", case_id=case_id) + "#comments")
    except Invalid as exc:
        errors = {name: short_message(text) for name, text in exc.fields.items()}
    with staff() as (s, principal):
        return _render_case(s, principal, case_id, errors=errors, values=request.form,
                            here=url_for("web.case_page", case_id=case_id)), 422


def _render_case(s: Session, principal: Principal, case_id: int, errors: dict[str, str] | None = None,
                 values: Any = None, here: str | None = None) -> Any:
    case = cases.visible(s, principal, case_id)
    view, labels = cases.describe(s, case, principal), lookups.form_labels(s, case)
    return render_template(
        "case.html", case=view, case_id=case_id, units=lookups.unit_names(s),
        timeline=timeline.entries(s, view, labels),
        comments=comments.comments_for_staff(s, case), attachments_panel=panel(s, principal, case),
        can_comment=not principal.read_only, errors=errors or {}, values=values or MultiDict(),
        categories=lookups.categories(is_english()), me=principal.user,
        form_labels=labels, here=here or request.path, push=pushes.status(s, principal, case),
    )



def staff_error_pages(blueprint: Blueprint) -> None:
    """A feature's pages answer as the staff pages do: to the login page when not logged in, and a
    service's refusal (403, 404, 409, 422 …) as the error page in the reader's language."""

    @blueprint.errorhandler(LoginRequired)
    def _login_required(_exc: LoginRequired) -> Any:
        return login_redirect()

    @blueprint.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Any:
        return error_page(exc.status, exc.message)
