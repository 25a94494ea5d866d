"""The responsibility catalogue (责任清单): matter → lead and cooperating departments, time limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.definitions import configuration


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
    name_en: str = ""  # the English name, "" when the catalogue gives none

    def label(self, english: bool) -> str:
        return self.name_en if english and self.name_en else self.name


@dataclass(frozen=True)
class Catalogue:
    classes: dict[str, str]
    matters: dict[str, Matter]
    classes_en: dict[str, str] = field(default_factory=dict)  # class code → English name, where given

    def class_label(self, code: str, english: bool) -> str:
        return (self.classes_en.get(code) if english else None) or self.classes.get(code, code)

    def matter(self, code: str) -> Matter | None:
        return self.matters.get(code)


SITUATIONS = ("enforcement", "key_work", "emergency", "fallback")
# `lead: "@property_company"`: the unit of that kind serving the case's place, not a fixed unit.
KIND_REFERENCE = "@"
_REQUIRED = ("code", "name", "class", "lead", "report_in_hours", "handle_hours")


class CatalogueError(ValueError):
    """A catalogue that cannot be used; the message names the file, line and field."""


@configuration.loader("catalogue")
def _read(config: configuration.Configuration) -> Catalogue:
    return parse_catalogue(config.text("catalogue.yaml"))


def load_catalogue() -> Catalogue:
    """The catalogue in effect (versioned with the processes, like the locality model)."""
    return configuration.load("catalogue")  # type: ignore[no-any-return]


def parse_catalogue(text: str, name: str = "catalogue.yaml") -> Catalogue:
    raw, lines = configuration.yaml_with_lines(text, name, CatalogueError)

    def fail(path: tuple[str, ...], message: str) -> CatalogueError:
        return CatalogueError(f"{configuration.where(name, lines, path)}: {message}")

    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), list) for k in ("classes", "matters")):
        raise fail((), "needs the lists 'classes' and 'matters'")
    classes, classes_en = {}, {}
    for index, item in enumerate(raw["classes"]):
        if not isinstance(item, dict) or not item.get("code") or not item.get("name"):
            raise fail(("classes", str(index)), "a class needs a code and a name")
        classes[str(item["code"])] = str(item["name"])
        if item.get("name_en"):
            classes_en[str(item["code"])] = str(item["name_en"])
    matters: dict[str, Matter] = {}
    for index, item in enumerate(raw["matters"]):
        matter = _matter(item, ("matters", str(index)), classes, fail)
        if matter.code in matters:
            raise fail(("matters", str(index), "code"), f"matter '{matter.code}' is listed twice")
        matters[matter.code] = matter
    return Catalogue(classes, matters, classes_en)


def _matter(item: Any, path: tuple[str, ...], classes: dict[str, str],
            fail: Callable[[tuple[str, ...], str], CatalogueError]) -> Matter:
    if not isinstance(item, dict):
        raise fail(path, "a matter must be a mapping")
    for key in _REQUIRED:
        if item.get(key) in (None, ""):
            raise fail(path, f"missing '{key}'")
    if item["class"] not in classes:
        raise fail((*path, "class"), f"unknown class '{item['class']}' (known: {', '.join(classes)})")
    situation = item.get("situation", "enforcement")
    if situation not in SITUATIONS:
        raise fail((*path, "situation"), f"unknown situation '{situation}' ({', '.join(SITUATIONS)})")
    cooperating = item.get("cooperating") or []
    if not isinstance(cooperating, list):
        raise fail((*path, "cooperating"), "must be a list of unit codes")
    hours = {}
    for key in ("report_in_hours", "report_in_hours_urgent", "handle_hours"):
        value = item.get(key, item["report_in_hours"])
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 2000:
            raise fail((*path, key), f"must be a number of working hours above 0 (got {value!r})")
        hours[key] = float(value)
    return Matter(code=str(item["code"]), name=str(item["name"]), klass=str(item["class"]), lead=str(item["lead"]),
                  cooperating=tuple(str(c) for c in cooperating), situation=situation,
                  name_en=str(item.get("name_en") or ""), **hours)
