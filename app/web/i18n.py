"""Languages and CSRF for the web pages: Flask-Babel (zh_CN default, en selectable), Flask-WTF CSRF.

Message ids are the Chinese texts, so the pages read right in the default language even before any
catalogue is compiled; ``app/translations/en`` holds the English catalogue.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh_CN"

csrf = CSRFProtect()
babel = Babel()
log = logging.getLogger(__name__)


def current_language() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def compile_catalogues(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile every ``.po`` whose ``.mo`` is missing or older (what ``pybabel compile`` does)."""
    written: list[Path] = []
    for po in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parent.parent.name)
        partial = mo.with_name(f".{mo.name}.{os.getpid()}")
        with partial.open("wb") as handle:
            write_mo(handle, catalog)
        os.replace(partial, mo)  # atomic: a worker starting at the same time never reads half a file
        written.append(mo)
    return written


def init_web(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session: long forms do not expire
    try:  # the set-up compiles them; this only catches a .po edited since
        compile_catalogues()
    except OSError as exc:  # a read-only install: serve what was compiled
        log.warning("could not compile the message catalogues: %s", exc)
    babel.init_app(app, locale_selector=current_language)
    from app.api import bp as api_bp
    from app.attachments.pages import init_uploads
    from app.request_checks import init_request_checks

    init_uploads(app)  # lifts the body limit of upload views: before CSRF reads the form
    init_request_checks(app)  # NUL in the path, query or form is a 400: after the limit, before CSRF
    csrf.init_app(app)

    csrf.exempt(api_bp)  # the JSON API takes bearer tokens or JSON bodies, which forms cannot send
