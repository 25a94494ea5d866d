"""Every text the pages can show has an English translation (Chinese is the message id)."""

from __future__ import annotations

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app.settings import ROOT
from app.web.i18n import TRANSLATIONS


def test_every_message_has_an_english_translation() -> None:
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = DEFAULT_KEYWORDS | {"N_": None}
    found = {message for _file, _line, message, _comments, _context in
             extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords) if isinstance(message, str)}
    with (TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = {m.id: m.string for m in read_po(handle) if m.id}
    missing = sorted(m for m in found if not catalogue.get(m))
    assert not missing, f"add these to the en catalogue (see babel.cfg): {missing}"
    assert len(found) > 150
