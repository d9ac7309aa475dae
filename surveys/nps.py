"""NPS arithmetic: the groups of a 0-10 score and the figures of many (no database)."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NpsFigures:
    responses: int
    promoters: int
    passives: int
    detractors: int

    @property
    def nps(self) -> float | None:
        """% promoters (9–10) − % detractors (0–6), one decimal; None without answers."""
        if not self.responses:
            return None
        return round(100 * (self.promoters - self.detractors) / self.responses, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "promoters": self.promoters,
            "passives": self.passives,
            "detractors": self.detractors,
            "nps": self.nps,
        }


def nps_group(score: int) -> str:
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


def nps_figures(scores: Iterable[int]) -> NpsFigures:
    groups = {"promoter": 0, "passive": 0, "detractor": 0}
    for score in scores:
        groups[nps_group(score)] += 1
    return NpsFigures(
        responses=sum(groups.values()),
        promoters=groups["promoter"],
        passives=groups["passive"],
        detractors=groups["detractor"],
    )
