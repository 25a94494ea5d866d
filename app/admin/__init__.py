"""流程管理 Process admin pages: the versions with their files, compare two versions, upload a
bundle to check and deploy, retire a version or make an earlier one current again.

Pages only translate HTTP: the work is done by app/definitions (versions, compare, bundles,
scenarios), the same services as the JSON API under /api/processes.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static", static_url_path="/static")

from app.admin import config_pages as config_routes  # noqa: E402,F401  (routes register on import)
from app.admin import migration as migration_routes  # noqa: E402,F401  (routes register on import)
from app.admin import modeling, pages  # noqa: E402,F401  (routes register on import)
