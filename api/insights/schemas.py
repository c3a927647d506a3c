"""Response bodies of the customer insights."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Risk = Literal["low", "medium", "high"]


class ReasonView(BaseModel):
    feature: str
    description: str = Field(description="How this raises the customer's risk, in words")
    value: float = Field(description="The customer's value of the feature when scored")
    contribution: float = Field(
        description="Log-odds it adds to the risk (the rules: the rule's weight)"
    )


class ChurnInsight(BaseModel):
    probability: float = Field(description="Chance the customer stops paying within 30 days")
    risk: Risk = Field(description="low (< 10 %), medium (< 25 %) or high")
    reasons: list[ReasonView] = Field(description="What raises the risk most, first")
    method: str = Field(description="logistic_regression, or rules when history was too short")
    model_version: str
    model_note: str = Field(description="Why the rules apply, when they do")
    scored_at: datetime


class UsageGroupView(BaseModel):
    group: int
    description: str = Field(description="The group's usage shape, in words")
    customers: int
    trend: str
    rhythm: str
    median_weekly_messages: int


class UsageGroupsView(BaseModel):
    groups: list[UsageGroupView]
    silhouette: float | None = Field(
        description="How well separated the groups are (-1 to 1); the number of groups is "
        "the one (2 to 6) with the best score"
    )
    computed_at: datetime | None


class UsagePatternView(BaseModel):
    trend: str = Field(description="growing, flat, declining, or unknown (too little usage)")
    weekly_change: float | None = Field(
        description="Fitted change of weekly messages per week (0.05: +5 % a week)"
    )
    rhythm: str = Field(description="weekdays, weekends, every day, or unknown")
    weekday_shares: dict[str, float] = Field(description="Share of messages per weekday")
    bursts: list[date] = Field(description="Days far above the customer's usual usage")
    weekly_messages: list[int] = Field(description="The last twelve full weeks, oldest first")
    limits_reached: list[str] = Field(
        description="Metrics that reached their limit (the grace band) in the last three periods"
    )
    group: UsageGroupView | None = Field(description="The customer's usage group, if any")


class InsightsView(BaseModel):
    customer_id: str
    churn: ChurnInsight | None = Field(
        description="None until the daily churn run has scored the customer (paying only)"
    )
    usage: UsagePatternView
    facts: list[str] = Field(
        description="What is known for certain and weighs on churn (a scheduled "
        "cancellation, a card about to expire); not part of the model"
    )


class ModelView(BaseModel):
    version: str
    method: str
    trained_at: datetime
    note: str
    metrics: dict[str, object] = Field(
        description="ROC AUC, PR AUC, Brier score and calibration on the held-out window, "
        "the baseline rule's AUCs, per kind of churn, and the training window"
    )
    risks: dict[str, int] = Field(description="Customers scored per risk band")
