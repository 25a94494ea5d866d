"""Duplicate suggestions: precision and recall on a seeded set of reports with known repeats.

    .venv/bin/python -m bench.duplicates [--seed N] [--problems N]

Each problem (a matter on a place) is reported one to three times in different words; two reports
are a true pair when they are of the same problem. A pair is suggested when it scores at least the
threshold with the weights of config/intake.yaml (duplicates). Same-area candidates only, as at triage.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from itertools import combinations

from app.intake.duplicates import Settings, _score, load_settings
from app.models import Case

PLACES = [(1, 10), (2, 10), (3, 10), (4, 11), (5, 11)]  # (place id, parent id)
PROBLEMS = {
    "garbage_overflow": ["{w}垃圾桶满溢", "{w}垃圾好几天没人清运", "{w}垃圾堆成山了，很臭"],
    "noise_nuisance": ["{w}夜间施工噪声扰民", "{w}晚上施工太吵睡不着", "{w}工地半夜还在施工"],
    "fire_lane_blocked": ["{w}消防通道被车堵了", "{w}消防通道停满私家车", "{w}楼下消防通道被占用"],
    "street_vending": ["{w}有人占道摆摊", "{w}路边摊贩占道经营", "{w}门口游商摆摊堵路"],
    "group_rental": ["{w}有群租房", "{w}一套房住了十几个人", "{w}群租人员进出杂乱"],
}
COMPOUNDS = ["和平里", "兴华小区", "育才小区", "建设路", "幸福里", "光明小区", "安定门", "交道口"]
SPOTS = ["号楼", "号楼北侧", "号院门口", "号楼单元门前"]


@dataclass
class Result:
    threshold: float
    precision: float
    recall: float
    pairs: int


def seeded(rng: random.Random, problems: int) -> list[tuple[int, Case]]:
    reports: list[tuple[int, Case]] = []
    for problem in range(problems):
        matter = rng.choice(list(PROBLEMS))
        place, parent = rng.choice(PLACES)
        where = f"{rng.choice(COMPOUNDS)}{rng.randint(1, 40)}{rng.choice(SPOTS)}"
        for text in rng.sample(PROBLEMS[matter], rng.randint(1, 3)):
            case = Case(id=len(reports) + 1, matter=matter, place_id=place, title=text.format(w=where)[:20],
                        description=text.format(w=where))
            case.place_parent = parent  # type: ignore[attr-defined]
            reports.append((problem, case))
    return reports


def measure(reports: list[tuple[int, Case]], settings: Settings, threshold: float) -> Result:
    true_pairs = suggested = hits = 0
    for (pa, a), (pb, b) in combinations(reports, 2):
        same = pa == pb
        true_pairs += same
        if a.place_parent != b.place_parent:  # type: ignore[attr-defined]
            continue  # not a candidate at triage
        if _score(a, b, settings)[0] >= threshold:
            suggested += 1
            hits += same
    return Result(threshold, hits / suggested if suggested else 1.0, hits / true_pairs if true_pairs else 1.0,
                  true_pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--problems", type=int, default=60)
    args = parser.parse_args()
    settings = load_settings()
    reports = seeded(random.Random(args.seed), args.problems)
    print(f"{len(reports)} reports of {args.problems} problems; configured threshold {settings.min_score}")
    print("| threshold | precision | recall | true pairs |\n|---|---|---|---|")
    for threshold in sorted({0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, settings.min_score}):
        r = measure(reports, settings, threshold)
        print(f"| {r.threshold:.2f} | {r.precision:.2f} | {r.recall:.2f} | {r.pairs} |")


if __name__ == "__main__":
    main()
