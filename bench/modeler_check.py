"""Modeler check benchmark: what the check-as-you-edit costs an admin after each save.

``python -m bench.modeler_check [--runs 5]``

The modeler posts the edited diagram after every save (debounced 800 ms) and the server runs the
deploy check (``versions.check``: XSD, sandboxed expressions, the SpiffWorkflow parse, roles,
stages, handlers, forms) and the lint rules (``app.definitions.lint``) on the bundle. Measured on
``processes/`` with its configuration: the first check (cold: every form's schema checked against
the meta-schema), then ``--runs`` checks with one diagram changed each time (as while editing),
and the lint alone. Wall milliseconds; median and max of the warm runs. The machine is shared:
compare figures of one run with each other.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import handlers  # noqa: F401  (registers the handlers the check looks up)
from app.definitions import versions
from app.definitions.lint import lint_files
from app.settings import ROOT


@dataclass
class Figures:
    files: int
    cold_ms: float
    warm_ms: list[float]
    lint_ms: list[float]
    problems: int


def _ms(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return (time.perf_counter() - start) * 1000


def run(runs: int, directory: Path = ROOT / "processes") -> Figures:
    files = versions.read_files(directory)
    cold = _ms(lambda: versions.check(files))
    warm, lint = [], []
    for number in range(runs):  # one edit a run: a new name on the case's triage task
        edited = files | {"case.bpmn": files["case.bpmn"].replace('name="研判分级 Triage"', f'name="研判 {number}"')}
        warm.append(_ms(lambda: versions.check(edited)))  # noqa: B023  (called at once)
        lint.append(_ms(lambda: lint_files(edited)))  # noqa: B023
    return Figures(len(files), cold, warm, lint, len(lint_files(files)))


def report(figures: Figures) -> str:
    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.0f} / {max(values):.0f}"

    return "\n".join([
        "| files | first check ms | check ms (median / max) | lint ms (median / max) | lint problems |",
        "|---|---|---|---|---|",
        f"| {figures.files} | {figures.cold_ms:.0f} | {cell(figures.warm_ms)} | {cell(figures.lint_ms)} "
        f"| {figures.problems} |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    print(report(run(parser.parse_args().runs)))


if __name__ == "__main__":
    main()
