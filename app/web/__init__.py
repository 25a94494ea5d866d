"""The web pages: role inboxes, task forms, case pages and the public report/track pages.

One blueprint; each module below adds its own routes to it.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/static")

from app.attachments import pages as attachment_pages  # noqa: E402,F401  (routes register on import)
from app.web import deadlines, diagram, history, pages, public  # noqa: E402,F401  (routes register on import)
