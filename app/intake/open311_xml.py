"""Open311 GeoReport v2 answers as XML, shaped as the spec's examples
(https://wiki.open311.org/GeoReport_v2): a root element holding one element per item, each field
an element of its own; a missing value is an empty element, true/false in lower case."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'


def document(items: list[dict[str, Any]], root: str, item: str) -> str:
    """``<root><item><field>value</field>…</item>…</root>``."""
    top = Element(root)
    for values in items:
        _fields(SubElement(top, item), values)
    return _text(top)


def service_definition(definition: dict[str, Any]) -> str:
    """``<service_definition>`` with its ``<attributes>`` (each an ``<attribute>``)."""
    top = Element("service_definition")
    SubElement(top, "service_code").text = str(definition["service_code"])
    attributes = SubElement(top, "attributes")
    for attribute in definition.get("attributes") or []:
        _fields(SubElement(attributes, "attribute"), attribute)
    return _text(top)


def _fields(parent: Element, values: dict[str, Any]) -> None:
    for name, value in values.items():
        SubElement(parent, name).text = _value(value)


def _value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text(top: Element) -> str:
    return DECLARATION + tostring(top, encoding="unicode")
