"""The responsibility catalogue (责任清单): matter → lead and cooperating departments, time limits."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app.settings import ROOT

CATALOGUE_FILE = ROOT / "config" / "catalogue.yaml"


@dataclass(frozen=True)
class Matter:
    code: str
    name: str
    klass: str
    lead: str
    cooperating: tuple[str, ...]
    report_in_hours: float
    report_in_hours_urgent: float
    handle_hours: float
    situation: str


@dataclass(frozen=True)
class Catalogue:
    classes: dict[str, str]
    matters: dict[str, Matter]

    def matter(self, code: str) -> Matter | None:
        return self.matters.get(code)


@functools.cache
def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    classes = {c["code"]: c["name"] for c in raw["classes"]}
    matters = {
        m["code"]: Matter(
            code=m["code"],
            name=m["name"],
            klass=m["class"],
            lead=m["lead"],
            cooperating=tuple(m.get("cooperating") or ()),
            report_in_hours=float(m["report_in_hours"]),
            report_in_hours_urgent=float(m.get("report_in_hours_urgent", m["report_in_hours"])),
            handle_hours=float(m["handle_hours"]),
            situation=m.get("situation", "enforcement"),
        )
        for m in raw["matters"]
    }
    return Catalogue(classes, matters)
