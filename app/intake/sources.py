"""The sources work orders are imported from, and each one's column mapping (config/intake.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from app.services.cases import CHANNELS
from app.services.catalogue import Catalogue
from app.services.errors import Invalid
from app.settings import ROOT

INTAKE_FILE = ROOT / "config" / "intake.yaml"
FIELDS = ("number", "origin", "title", "description", "category", "subcategory", "reporter_name",
          "reporter_phone", "address", "dispatched_at", "promised_at", "handling_unit", "status")
_NOTE = re.compile(r"[（(][^）)]*[）)]")


class IntakeConfigError(ValueError):
    """config/intake.yaml cannot be used; the message names the source and the field."""


@dataclass(frozen=True)
class Source:
    """One outside system's export format: which column holds which field, and how its
    categories and addresses map onto the catalogue and the report places."""

    name: str
    label: dict[str, str]
    channel: str
    columns: dict[str, str]
    required: tuple[str, ...]
    matters: dict[str, str]
    places: dict[str, str]
    zone: ZoneInfo

    def matter_for(self, category: str, subcategory: str, catalogue: Catalogue) -> str | None:
        """The catalogue matter of an export's 大类/小类, or None when nothing matches."""
        for key in (f"{category}/{subcategory}", subcategory, category):
            if key and key in self.matters:
                return self.matters[key]
        for text in (subcategory, category):
            found = _matter_named(text, catalogue)
            if found:
                return found
        return None


def find_place(address: str, places: dict[str, str], place_codes: frozenset[str]) -> str | None:
    """The report place an address names: its code in the address, else the longest listed text."""
    for code in sorted(place_codes, key=len, reverse=True):
        if code in address:
            return code
    hits = [text for text in places if text and text in address]
    return places[max(hits, key=len)] if hits else None


def _matter_named(text: str, catalogue: Catalogue) -> str | None:
    if not text:
        return None
    for matter in catalogue.matters.values():
        names = {part.strip() for part in _NOTE.sub("", matter.name).split("/")} | {matter.name.strip()}
        if text.strip() in names:
            return matter.code
    return None


def load_sources(path: Path = INTAKE_FILE) -> dict[str, Source]:
    raw = _read(path)
    if not isinstance(raw.get("sources"), dict) or not raw["sources"]:
        raise IntakeConfigError(f"{path.name}: needs a mapping 'sources'")
    shared = shared_places(path)
    return {str(name): _source(str(name), item, path.name, shared) for name, item in raw["sources"].items()}


def _read(path: Path) -> dict[str, Any]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise IntakeConfigError(f"{path.name}: must be a mapping")
    return raw


def shared_places(path: Path = INTAKE_FILE) -> dict[str, str]:
    """Address text → report place, for every source (and Open311's address_string)."""
    places = _read(path).get("places") or {}
    if not isinstance(places, dict):
        raise IntakeConfigError(f"{path.name}: places must map address text to a unit code")
    return {str(k): str(v) for k, v in places.items()}


def open311_settings(path: Path = INTAKE_FILE) -> dict[str, str]:
    section = _read(path).get("open311") or {}
    return {str(k): str(v) for k, v in dict(section).items()}


def _source(name: str, item: Any, file: str, shared: dict[str, str]) -> Source:
    where = f"{file}: sources.{name}"
    if not isinstance(item, dict):
        raise IntakeConfigError(f"{where}: must be a mapping")
    columns = item.get("columns")
    if not isinstance(columns, dict) or "number" not in columns:
        raise IntakeConfigError(f"{where}.columns: a mapping naming at least the 'number' column")
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise IntakeConfigError(f"{where}.columns: unknown fields {', '.join(unknown)} (known: {', '.join(FIELDS)})")
    channel = item.get("channel")
    if channel not in CHANNELS:
        raise IntakeConfigError(f"{where}.channel: '{channel}' is not a channel ({', '.join(CHANNELS)})")
    required = tuple(str(f) for f in item.get("required") or ("number",))
    if set(required) - set(columns):
        raise IntakeConfigError(f"{where}.required: every required field needs a column")
    try:
        zone = ZoneInfo(str(item.get("timezone", "Asia/Shanghai")))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IntakeConfigError(f"{where}.timezone: unknown zone") from exc
    label = item.get("label") or {}
    return Source(name=name, label={k: str(v) for k, v in dict(label).items()}, channel=str(channel),
                  columns={str(k): str(v) for k, v in columns.items()}, required=required,
                  matters={str(k): str(v) for k, v in (item.get("matters") or {}).items()},
                  places=shared | {str(k): str(v) for k, v in (item.get("places") or {}).items()}, zone=zone)


def find_source(name: str, path: Path = INTAKE_FILE) -> Source:
    sources = load_sources(path)
    if name not in sources:
        raise Invalid(f"unknown source '{name}' (known: {', '.join(sources)})", {"source": "unknown source"})
    return sources[name]
