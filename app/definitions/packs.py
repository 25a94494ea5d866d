"""Locality packs: a whole locality's whistle system as data, deployable with one option.

A pack is a folder ``config/localities/<name>/`` holding what makes that locality differ from the
stock system:

- ``locality.yaml`` (required): its unit kinds, roles, whistle levels and review chains, stages;
- ``catalogue.yaml``, ``calendar.yaml``, ``assessment.yaml``: taken from ``config/`` when absent;
- ``org.yaml``: its organisation tree and users (what ``load-org`` loads);
- ``processes/``: diagrams, DMN tables and forms that replace or add to ``processes/`` file by file
  (a pack with new whistle levels brings its ``whistle_levels.dmn``), and ``processes/scenarios/``:
  its own scenario tests, played by ``check-processes --locality <name>``.

The stock system (``processes/`` with ``config/`` and ``config/demo_org.yaml``) is the pack named
``demo``. No pack holds Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.definitions import configuration
from app.engine import BundleError, read_bundle_dir
from app.services.errors import Invalid
from app.settings import ROOT

PACKS_DIR = configuration.CONFIG_DIR / "localities"
DEFAULT = "demo"


@dataclass(frozen=True)
class Pack:
    name: str
    config_dir: Path  # its configuration files (missing ones come from config/)
    processes_dir: Path | None  # diagrams replacing or adding to processes/, file by file
    org_file: Path

    @property
    def scenarios_dir(self) -> Path:
        """Where its scenario tests are (scenarios/*.yaml under it)."""
        return self.processes_dir or ROOT / "processes"

    def files(self, processes_dir: Path | None = None) -> dict[str, str]:
        """What a deploy of this pack stores: the processes overlaid with the pack's own, and its
        configuration (``config/<name>``)."""
        try:
            files = read_bundle_dir(processes_dir or ROOT / "processes")
            if self.processes_dir is not None and self.processes_dir.is_dir():
                files.update(_own_diagrams(self.processes_dir))
        except BundleError as exc:
            raise Invalid(str(exc)) from exc
        base = None if self.config_dir == configuration.CONFIG_DIR else configuration.CONFIG_DIR
        return {**files, **configuration.read_dir(self.config_dir, base)}


def _own_diagrams(directory: Path) -> dict[str, str]:
    try:
        return read_bundle_dir(directory)
    except BundleError:  # a pack with scenarios only
        return {}


def names() -> list[str]:
    found = sorted(p.name for p in PACKS_DIR.iterdir() if (p / "locality.yaml").is_file()) if PACKS_DIR.is_dir() else []
    return [DEFAULT, *found]


def find(name: str | None) -> Pack:
    """The pack of this name (None or ``demo``: the stock system with the demo district)."""
    if not name or name == DEFAULT:
        return Pack(DEFAULT, configuration.CONFIG_DIR, None, configuration.CONFIG_DIR / "demo_org.yaml")
    folder = PACKS_DIR / name
    if name not in names():
        raise Invalid(f"unknown locality '{name}' (known: {', '.join(names())})", {"locality": "unknown"})
    return Pack(name, folder, folder / "processes", folder / "org.yaml")
