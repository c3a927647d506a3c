"""Response bodies of the customer insights."""

from __future__ import annotations

from datetime import datetime
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


class InsightsView(BaseModel):
    customer_id: str
    churn: ChurnInsight | None = Field(
        description="None until the daily churn run has scored the customer (paying only)"
    )
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
