"""No locality's words in the code: app/ and handlers/ (Python, templates, scripts) never quote a role,
unit kind, whistle level, stage, unit code or task type that a locality model (config/locality.yaml,
config/localities/*/), an organisation (config/demo_org.yaml, the packs' org.yaml) or the processes
(processes/, the packs' processes/) define. Those are data; the code knows capabilities, unit-kind
flags and stage meanings only, and the recorded keys it names once (app/services/record_keys.py)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from app.services.locality import CAPABILITIES, STAGE_MEANINGS, parse_locality
from app.settings import ROOT

CONFIG = ROOT / "config"
# The code's own vocabulary, which a locality maps its stages and roles onto (`means: review`):
# a locality may give a stage the same name, the code still means its mechanism.
CODE_WORDS = set(CAPABILITIES) | set(STAGE_MEANINGS)
# The same spelling meaning something else than the locality's word, file by file, and why.
# Shrink it; never grow it to let a locality's word in.
OTHER_MEANING: dict[str, dict[str, str]] = {
    "department": {"app/services/record_keys.py": "the recorded responding-unit key, named once for the audit chain"},
    "grid": {"app/services/record_keys.py": "the report's place key as the API first named it, in recorded events"},
    "admin": {"app/admin/__init__.py": "the admin blueprint's name (URLs, endpoints)",
              "app/web/deadlines.py": "a JSON flag: the user holds the administer capability"},
    "verify": {"app/cli.py": "the `flask verify` command (the audit chain)",
               "app/assessment/pages.py": "a query parameter: re-check a bulletin's hash",
               "app/assessment/templates/assessment/bulletin.html": "the same query parameter"},
    "verification": {"app/services/audit.py": "the audit chain's verification result",
                     "app/services/dossier.py": "the same, in the dossier",
                     "app/web/history.py": "the same, on the history page"},
    "feedback": {"app/services/names.py": "the feedback event's label",
                 "app/services/tracking.py": "the feedback form's field the public tracking page shows"},
    "supervision": {
        "app/services/deadlines.py": "督办 is the code's deadline mechanism: the notification kind, the result "
                                     "variable of open_supervision; LEFT: default_hours['supervision'] still "
                                     "takes the 督办 answer limit by the stage's name",
        "app/services/openapi.py": "the notification kind in the API schema",
        "app/services/tasks.py": "the task detail's 督办 entry",
        "app/engine/runtime.py": "the context key the diagrams fill with a 督办 task's entry",
        "app/assessment/export_jobs.py": "the 督办 ledger export",
        "app/assessment/templates/assessment/dashboard.html": "the same export's link",
        "app/web/deadlines.py": "the notification kind's label",
        "app/web/templates/notifications.html": "the notification kind, styled as late",
    },
}


def _locality_words() -> dict[str, str]:
    """Every word a locality defines, with where it comes from."""
    words: dict[str, str] = {}
    for path in [CONFIG / "locality.yaml", *sorted(CONFIG.glob("localities/*/locality.yaml"))]:
        model = parse_locality(path.read_text(encoding="utf-8"), path.name)
        for kind, codes in (("role", model.roles), ("unit kind", model.unit_kinds), ("level", model.levels),
                            ("stage", model.stages)):
            for code in codes:
                words.setdefault(code, f"{kind} in {path.relative_to(ROOT)}")
    for path in [CONFIG / "demo_org.yaml", *sorted(CONFIG.glob("localities/*/org.yaml"))]:
        units = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("units") or []
        for unit in units:
            words.setdefault(str(unit["code"]), f"unit in {path.relative_to(ROOT)}")
    for path in [*sorted(ROOT.glob("processes/*.bpmn")), *sorted(CONFIG.glob("localities/*/processes/*.bpmn"))]:
        for task in re.findall(r'<bpmn:userTask id="([^"]+)"', path.read_text(encoding="utf-8")):
            words.setdefault(task, f"task type in {path.relative_to(ROOT)}")
    return {word: source for word, source in words.items() if word not in CODE_WORDS}


def _code_files() -> list[Path]:
    files = [*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py"),
             *ROOT.joinpath("app").rglob("*.html"), *ROOT.joinpath("app").rglob("*.js")]
    return sorted(p for p in files if "vendor" not in p.parts and "node_modules" not in p.parts)


def quoted_locality_words(files: list[Path], words: dict[str, str]) -> list[str]:
    quoted = re.compile(r"""["'](""" + "|".join(map(re.escape, sorted(words, key=len, reverse=True))) + r""")["']""")
    found = []
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in quoted.finditer(line):
                if relative not in OTHER_MEANING.get(match.group(1), {}):
                    found.append(f"{relative}:{number}: {match.group(0)} ({words[match.group(1)]})")
    return found


def test_the_code_names_no_role_kind_level_stage_unit_or_task_of_a_locality() -> None:
    found = quoted_locality_words(_code_files(), _locality_words())
    assert not found, "a locality's word in the code (read it from config/ or processes/):\n" + "\n".join(found)


def test_the_scan_finds_a_word_of_any_locality(tmp_path: Path) -> None:
    """The scan itself: a pack's own words count as much as the demo's, wherever they are written."""
    words = _locality_words()
    assert {"grid_worker", "secretary", "community", "street", "dc-s1-c1-g1", "prepare_whistle"} <= set(words)
    assert not CODE_WORDS & set(words)
    sample = ROOT / "app" / "services" / "record_keys.py"  # an allowed file, for the one allowed word only
    found = quoted_locality_words([sample], {**words, "place": "a word of a pack"})
    assert found == [f"app/services/record_keys.py:{_line_of(sample, 'PLACE_FIELD = ')}: \"place\" (a word of a pack)"]


def test_every_allowed_file_still_has_its_word() -> None:
    """An entry whose file no longer quotes the word is stale: the allow-list may only shrink."""
    stale = [f"{word} in {file}" for word, files in OTHER_MEANING.items() for file in files
             if not re.search(f"""["']{re.escape(word)}["']""", (ROOT / file).read_text(encoding="utf-8"))]
    assert not stale, stale


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)
