"""``[segments.<id>]`` of the config file: customer segments for targeted offers, checked
strictly (an unknown key, plan, status, band or trend is an error naming the field)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.growth.segments import USAGE_GROUP_PREFIX, Segment, SegmentRules

_Status = Literal["trialing", "trial_expired", "active", "past_due", "paused", "canceled"]
_Risk = Literal["low", "medium", "high"]
_Trend = Literal["growing", "flat", "declining", "unknown"]


class SegmentEntry(BaseModel):
    """One ``[segments.<id>]`` table; every rule set must hold (AND)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    plans: list[str] | None = Field(default=None, min_length=1)
    statuses: list[_Status] | None = Field(default=None, min_length=1)
    # Ids of the latest analytics run's usage groups: a regrouping renumbers them, so a
    # campaign to a group is better sent to its computed segment (usage-group:<n>).
    usage_groups: list[int] | None = Field(default=None, min_length=1)
    usage_trends: list[_Trend] | None = Field(default=None, min_length=1)
    churn_risks: list[_Risk] | None = Field(default=None, min_length=1)
    min_tenure_days: int | None = Field(default=None, ge=0)
    max_tenure_days: int | None = Field(default=None, ge=0)
    countries: list[str] | None = Field(default=None, min_length=1)

    @field_validator("countries")
    @classmethod
    def _countries(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        codes = [v.strip().upper() for v in values]
        bad = [v for v in codes if len(v) != 2 or not v.isalpha()]
        if bad:
            raise ValueError(f"ISO 3166-1 alpha-2 codes such as 'DE', not {bad}")
        return codes

    @model_validator(mode="after")
    def _tenure_bounds(self) -> SegmentEntry:
        low, high = self.min_tenure_days, self.max_tenure_days
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_tenure_days {low} is above max_tenure_days {high}")
        return self


T = TypeVar("T")


def _tuple(values: Sequence[T] | None) -> tuple[T, ...] | None:
    return None if values is None else tuple(values)


def _check_segments(
    entries: dict[str, SegmentEntry], info: ValidationInfo
) -> dict[str, SegmentEntry]:
    """What one entry alone cannot check: plans of the catalog (``plans`` comes before
    ``segments`` in the file model, so it is validated by now), ids that clash with the
    computed ones."""
    plans = info.data.get("plans")
    for segment_id, entry in entries.items():
        if segment_id.startswith(USAGE_GROUP_PREFIX):
            raise ValueError(
                f"{segment_id}: ids starting {USAGE_GROUP_PREFIX!r} are the computed "
                "usage-group segments"
            )
        unknown = sorted(set(entry.plans or ()) - set(plans or ()))
        if plans is not None and unknown:
            raise ValueError(
                f"{segment_id}.plans: unknown plan(s) {unknown}; known: {sorted(plans)}"
            )
    return entries


# The ``segments`` field of the config file's model.
SegmentsSection = Annotated[dict[str, SegmentEntry], AfterValidator(_check_segments)]


def segments_from(entries: Mapping[str, SegmentEntry]) -> tuple[Segment, ...]:
    return tuple(
        Segment(
            id=segment_id,
            name=e.name,
            description=e.description,
            rules=SegmentRules(
                plans=_tuple(e.plans),
                statuses=_tuple(e.statuses),
                usage_groups=_tuple(e.usage_groups),
                usage_trends=_tuple(e.usage_trends),
                churn_risks=_tuple(e.churn_risks),
                min_tenure_days=e.min_tenure_days,
                max_tenure_days=e.max_tenure_days,
                countries=_tuple(e.countries),
            ),
        )
        for segment_id, e in entries.items()
    )
