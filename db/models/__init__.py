"""Tables of the app database, one module per concern; importing the package registers them
all on ``Base.metadata`` (Alembic and the tests rely on that)."""

from db.models.controls import ApprovalRequest, ConfigVersion, ReconciliationRun
from db.models.core import (
    ApiKey,
    Base,
    BigIntId,
    Customer,
    CustomerAddon,
    EmailOutbox,
    Invoice,
    LedgerEvent,
    LimitOverride,
    Notification,
    TermsVersion,
    UsageCounter,
    UsageDaily,
    UsageEvent,
    UsageThresholdCrossing,
    WebhookEvent,
)
from db.models.growth import (
    Campaign,
    CampaignRecipient,
    ChurnModelRow,
    ChurnScore,
    CustomerUsageGroup,
    CustomerUsageTrend,
    ExperimentAssignment,
    ExperimentExposure,
    ExperimentStateRow,
    UsageGroupRow,
)
from db.models.international import FxRate
from db.models.security import ApiKeyDetail, KillSwitch, SecurityEvent
from db.models.tax import CustomerTaxId

__all__ = [
    "ApiKey",
    "ApiKeyDetail",
    "ApprovalRequest",
    "Base",
    "BigIntId",
    "Campaign",
    "CampaignRecipient",
    "ChurnModelRow",
    "ChurnScore",
    "ConfigVersion",
    "Customer",
    "CustomerAddon",
    "CustomerTaxId",
    "CustomerUsageGroup",
    "CustomerUsageTrend",
    "EmailOutbox",
    "ExperimentAssignment",
    "ExperimentExposure",
    "ExperimentStateRow",
    "FxRate",
    "Invoice",
    "KillSwitch",
    "LedgerEvent",
    "LimitOverride",
    "Notification",
    "ReconciliationRun",
    "SecurityEvent",
    "TermsVersion",
    "UsageCounter",
    "UsageDaily",
    "UsageEvent",
    "UsageGroupRow",
    "UsageThresholdCrossing",
    "WebhookEvent",
]
