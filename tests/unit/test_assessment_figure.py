"""A figure counted by SQL aggregates: its records load when asked, a working-hours figure is computed
when first read, and a headline total adds numerators without loading any record."""

from __future__ import annotations

from app.assessment.service import Counted, Figure, combine


def test_records_load_once_and_only_when_asked() -> None:
    calls: list[int] = []

    def load() -> list[Counted]:
        calls.append(1)
        return [Counted(7, True), Counted(8, False)]

    figure = Figure(50.0, 1, 2, load=load)
    assert figure.value == 50.0 and calls == []
    assert figure.cases == [7, 8] and figure.rows[0].hit and calls == [1]


def test_a_later_figure_is_computed_on_first_read_only() -> None:
    calls: list[int] = []

    def compute() -> Figure:
        calls.append(1)
        return Figure(3.5, rows=[Counted(4, value=3.5)])

    figure = Figure(later=compute)
    assert calls == []
    assert (figure.value, figure.numerator, figure.cases) == (3.5, None, [4]) and calls == [1]


def test_a_total_adds_the_counts_without_loading_records() -> None:
    def refuse() -> list[Counted]:
        raise AssertionError("records loaded for a total")

    total = combine("%", [Figure(50.0, 1, 2, load=refuse), Figure(None, 0, 0, load=refuse), Figure(100.0, 3, 3,
                                                                                                    load=refuse)])
    assert (total.value, total.numerator, total.denominator) == (80.0, 4, 5)
    assert combine("n", [Figure(2, load=refuse), Figure(5, load=refuse)]).value == 7
