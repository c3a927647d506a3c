"""Who the demo customers are and what each of them will do, planned from a seed.

Pure planning, no I/O: the same seed, customer count and day count always give the same
plans. The seeder then carries each plan out through the real workflows, one command at
a time, on the time-skipping server's clock.

A plan is a sign-up day and a list of steps. Each step waits ``after_days`` from the day
the previous one took effect (a pause takes effect when it ends, a cancellation at period
end when the period ends, a failed renewal when dunning is over), so steps never overlap
and every command is valid in the state the previous steps left the customer in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from domain.lifecycle import BillingInterval
from domain.policy import TrialPolicy

MONTH = BillingInterval.MONTH
YEAR = BillingInterval.YEAR


class Act(StrEnum):
    CONVERT = "convert"
    # Upgrades apply now (prorated), downgrades at period end: the engine decides.
    CHANGE_PLAN = "change_plan"
    ADDON = "addon"
    PAUSE = "pause"
    CANCEL = "cancel"
    REACTIVATE = "reactivate"
    # Switch to a card that fails before the next renewal: dunning runs, then either
    # ``recovery`` happens or dunning is exhausted (the customer is canceled).
    FAIL_RENEWAL = "fail_renewal"
    EXTEND_TRIAL = "extend_trial"
    # Ask to cancel (``reason``), hear the save flow's offers, then take ``take`` (an offer
    # kind) or, when it is None or not offered, cancel at the period end.
    SAVE_FLOW = "save_flow"


class Recovery(StrEnum):
    # The customer gives the engine a new card: an immediate retry that succeeds.
    NEW_CARD = "new_card"
    # The customer fixes the card at the provider; the engine's next scheduled retry pays.
    RETRY = "retry"


@dataclass(frozen=True)
class Step:
    act: Act
    after_days: int
    plan: str | None = None
    interval: BillingInterval | None = None
    addon: str | None = None
    quantity: int = 1
    at_period_end: bool = False
    # PAUSE: resumed automatically after pause_days (resumes_at), or by a resume command
    # after pause_days when manual_resume.
    pause_days: int = 0
    manual_resume: bool = False
    recovery: Recovery | None = None
    # CONVERT: the first attempt uses a card that is declined (the trial stays as it was).
    declined_first: bool = False
    # EXTEND_TRIAL: days added.
    days: int = 0
    # SAVE_FLOW: the exit reason given, and the offer taken.
    reason: str | None = None
    take: str | None = None

    def describe(self) -> str:
        parts = [self.act.value]
        if self.plan:
            parts.append(f"{self.plan}/{self.interval.value if self.interval else '?'}")
        if self.addon:
            parts.append(f"{self.addon}x{self.quantity}")
        if self.act is Act.CANCEL:
            parts.append("at_period_end" if self.at_period_end else "now")
        if self.recovery:
            parts.append(self.recovery.value)
        if self.act is Act.SAVE_FLOW:
            parts.append(f"{self.reason} -> {self.take or 'cancel'}")
        return " ".join(parts)


@dataclass(frozen=True)
class CustomerPlan:
    number: int
    signup_day: int
    persona: str
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def external_id(self, seed: int) -> str:
        return f"{external_id_prefix(seed)}{self.number:05d}"

    @property
    def email(self) -> str:
        return f"demo-{self.number}@example.com"

    @property
    def name(self) -> str:
        return demo_name(self.number)


_FIRST = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances",
    "Edsger", "Radia", "Donald", "Hedy", "Tim", "Katherine", "John", "Anita", "Niklaus",
    "Sophie", "Guido", "Karen", "Bjarne", "Shafi", "Leslie", "Joan", "Yukihiro", "Mary",
    "James", "Annie", "Brian",
)  # fmt: skip
_LAST = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Dijkstra", "Perlman", "Knuth", "Lamarr", "Berners-Lee", "Johnson", "McCarthy",
    "Borg", "Wirth", "Wilson", "van Rossum", "Sparck Jones", "Stroustrup", "Goldwasser",
    "Lamport", "Clarke", "Matsumoto", "Keller", "Gosling", "Easley", "Kernighan",
)  # fmt: skip
_COMPANY = (
    "Labs", "Support", "Studio", "Shop", "Health", "Legal", "Travel", "Bakery", "Garage",
    "Books", "Fitness", "Realty", "Dental", "Games", "Energy",
)  # fmt: skip


def external_id_prefix(seed: int) -> str:
    """Every demo customer of a seed has an external id starting with this."""
    return f"demo-{seed}-"


def demo_name(number: int) -> str:
    """A plausible, synthetic name, e.g. "Grace Hopper (Hopper Studio)"."""
    first = _FIRST[number % len(_FIRST)]
    last = _LAST[(number // len(_FIRST) + number * 7) % len(_LAST)]
    company = _COMPANY[(number * 11) % len(_COMPANY)]
    return f"{first} {last} ({last} {company})"


# -- the plans ---------------------------------------------------------------------------
#
# Day arithmetic: customers sign up early in a day and act later in the day (the seeder's
# phases), so the trial's moments (with the default policy: reminders on days 7, 11 and
# 13, the end on day 14, win-back emails on days 17 and 21) come before any command on
# the same day.


@dataclass(frozen=True)
class TrialShape:
    """The trial's calendar in whole days (the defaults are the shipped policy's)."""

    length: int = 14
    # Days before the end a reminder goes out.
    reminders: tuple[int, ...] = (7, 3, 1)
    # Days after the end a win-back email goes out.
    winbacks: tuple[int, ...] = (3, 7)

    @classmethod
    def of(cls, trial: TrialPolicy) -> TrialShape:
        def days(offsets: tuple[timedelta, ...]) -> tuple[int, ...]:
            return tuple(sorted({max(1, round(o / timedelta(days=1))) for o in offsets}))

        return cls(
            length=max(2, round(trial.length / timedelta(days=1))),
            reminders=days(trial.reminders),
            winbacks=days(trial.winback),
        )

    @property
    def in_trial(self) -> tuple[int, ...]:
        return tuple(range(1, self.length))

    @property
    def after_expiry(self) -> tuple[int, ...]:
        """Expired, no win-back email yet."""
        first = self.winbacks[0] if self.winbacks else 3
        return tuple(range(self.length, self.length + first))

    @property
    def after_winback(self) -> tuple[int, ...]:
        if not self.winbacks:
            return self.after_expiry
        return tuple(range(self.length + self.winbacks[0], self.length + self.winbacks[-1] + 8))

    def after_extension(self, days: int) -> tuple[int, ...]:
        """Days after a ``days``-day extension that no reminder of the new trial falls on
        (those fall at the moment of day the extension was granted, like commands)."""
        busy = {days - r for r in self.reminders} | {days}
        return tuple(d for d in range(1, 6) if d not in busy) or (days + 1,)


def _convert(
    after: int,
    plan: str = "starter",
    interval: BillingInterval = MONTH,
    *,
    declined_first: bool = False,
) -> Step:
    return Step(Act.CONVERT, after, plan=plan, interval=interval, declined_first=declined_first)


def _change(after: int, plan: str, interval: BillingInterval = MONTH) -> Step:
    return Step(Act.CHANGE_PLAN, after, plan=plan, interval=interval)


Persona = tuple[str, tuple[Step, ...]]


def showcase(shape: TrialShape) -> tuple[Persona, ...]:
    """Fixed histories that together reach every kind of lifecycle event. The first
    customers get them, signing up on the first days, so even a small run shows every
    path."""
    trial = shape.in_trial
    expired = shape.after_expiry[0]
    winback = shape.after_winback[min(2, len(shape.after_winback) - 1)]
    late_winback = shape.after_winback[-1]
    extend = shape.after_expiry[min(2, len(shape.after_expiry) - 1)]

    def during(day: int) -> int:
        return trial[min(day, len(trial)) - 1]

    return (
        ("showcase:trial_expired", ()),
        ("showcase:upgrade", (_convert(during(5)), _change(18, "pro"))),
        ("showcase:winback_then_downgrade", (_convert(winback, "pro"), _change(12, "starter"))),
        (
            "showcase:addons",
            (
                _convert(during(3), "pro"),
                Step(Act.ADDON, 6, addon="extra_chatbot", quantity=2),
                Step(Act.ADDON, 9, addon="message_pack", quantity=1),
            ),
        ),
        ("showcase:involuntary_churn", (_convert(during(4)), Step(Act.FAIL_RENEWAL, 0))),
        (
            "showcase:dunning_new_card",
            (_convert(during(6)), Step(Act.FAIL_RENEWAL, 0, recovery=Recovery.NEW_CARD)),
        ),
        (
            "showcase:declined_then_cancel_now",
            (_convert(expired, declined_first=True), Step(Act.CANCEL, 20)),
        ),
        (
            "showcase:pause_then_cancel_at_period_end",
            (
                _convert(during(2), "pro"),
                Step(Act.PAUSE, 10, pause_days=20),
                Step(Act.CANCEL, 3, at_period_end=True),
            ),
        ),
        (
            "showcase:annual",
            (_convert(during(8), "pro", YEAR), Step(Act.ADDON, 15, addon="message_pack")),
        ),
        (
            "showcase:extended_trial",
            (Step(Act.EXTEND_TRIAL, extend, days=7), _convert(shape.after_extension(7)[-1])),
        ),
        (
            "showcase:reactivate_then_retry",
            (
                _convert(during(3)),
                Step(Act.CANCEL, 5, at_period_end=True),
                Step(Act.REACTIVATE, 3),
                Step(Act.FAIL_RENEWAL, 0, recovery=Recovery.RETRY),
            ),
        ),
        (
            "showcase:restart",
            (_convert(late_winback), Step(Act.CANCEL, 4, at_period_end=True), _convert(8, "pro")),
        ),
        (
            "showcase:save_flow_discount",
            (
                _convert(during(3), "pro"),
                Step(Act.SAVE_FLOW, 20, reason="too_expensive", take="coupon"),
            ),
        ),
        (
            "showcase:save_flow_declined",
            (
                _convert(during(5)),
                Step(Act.SAVE_FLOW, 25, reason="switching_to_competitor"),
            ),
        ),
        (
            "showcase:to_annual_manual_resume",
            (
                _convert(during(7)),
                Step(Act.PAUSE, 6, pause_days=9, manual_resume=True),
                _change(4, "starter", YEAR),
            ),
        ),
    )


SHOWCASE = showcase(TrialShape())


def plan_customers(
    count: int, days: int, seed: int, shape: TrialShape | None = None
) -> list[CustomerPlan]:
    """``count`` customers signing up over ``days`` days (more of them later: the business
    grows), each with a persona drawn from the seeded generator."""
    shape = shape or TrialShape()
    rng = random.Random(seed)
    fixed = showcase(shape)
    plans: list[CustomerPlan] = []
    for number in range(count):
        if number < len(fixed):
            persona, steps = fixed[number]
            signup = min(number % 4, max(days - 1, 0))
        else:
            signup = _signup_day(rng, days)
            persona, steps = _random_persona(rng, shape)
        plans.append(CustomerPlan(number, signup, persona, steps))
    return plans


def _signup_day(rng: random.Random, days: int) -> int:
    # Density growing linearly from 1 to 3 over the range: inverse of F(t) = (t + t^2) / 2.
    u = rng.random()
    t = (-1 + (1 + 8 * u) ** 0.5) / 2
    return min(int(t * days), days - 1)


def _random_persona(rng: random.Random, shape: TrialShape) -> Persona:
    roll = rng.random()
    if roll < 0.46:
        if rng.random() < 0.06:
            # An admin reopens the trial, but the customer still never buys.
            return "extended_then_expired", (
                Step(Act.EXTEND_TRIAL, rng.choice(shape.after_expiry), days=7),
            )
        return "trial_expired", ()
    if roll < 0.76:
        trial = "converted_in_trial"
        steps = [_paid_conversion(rng, rng.choice(shape.in_trial))]
    elif roll < 0.83:
        trial = "converted_after_expiry"
        steps = [_paid_conversion(rng, rng.choice(shape.after_expiry))]
    elif roll < 0.95:
        trial = "converted_after_winback"
        steps = [_paid_conversion(rng, rng.choice(shape.after_winback))]
    else:
        trial = "converted_after_extension"
        extension = rng.choice((7, 14))
        steps = [
            Step(Act.EXTEND_TRIAL, rng.choice(shape.after_expiry), days=extension),
            _paid_conversion(rng, rng.choice(shape.after_extension(extension))),
        ]
    paid, ending = _paid_life(rng, steps[-1])
    return f"{trial}/{ending}", (*steps, *paid)


def _paid_conversion(rng: random.Random, after: int) -> Step:
    plan = "pro" if rng.random() < 0.35 else "starter"
    interval = YEAR if rng.random() < 0.2 else MONTH
    return _convert(after, plan, interval, declined_first=rng.random() < 0.05)


def _paid_life(rng: random.Random, conversion: Step) -> tuple[list[Step], str]:
    """Mid-life events (plan changes, add-ons, a pause, a rescued renewal), then how the
    subscription ends (or not), tracking the plan so every step is valid."""
    assert conversion.plan is not None and conversion.interval is not None
    plan, interval = conversion.plan, conversion.interval
    steps: list[Step] = []
    paused = False
    chatbots = 0
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
        after = rng.randint(8, 50)
        options: list[tuple[str, float]] = [("pack", 3.0)]
        if plan == "starter":
            options.append(("upgrade", 3.0))
        if plan == "pro":
            options.append(("downgrade", 2.0))
        if interval is MONTH:
            options += [("annual", 1.0), ("rescued", 1.5)]
        if chatbots < 2:
            options.append(("chatbot", 2.0))
        if not paused:
            options.append(("pause", 1.0))
        event = _weighted(rng, options)
        if event == "pack":
            steps.append(Step(Act.ADDON, after, addon="message_pack", quantity=rng.randint(1, 2)))
        elif event == "chatbot":
            chatbots += 1
            steps.append(Step(Act.ADDON, after, addon="extra_chatbot", quantity=rng.randint(1, 3)))
        elif event == "upgrade":
            plan = "pro"
            steps.append(_change(after, plan, interval))
        elif event == "downgrade":
            plan = "starter"
            steps.append(_change(after, plan, interval))
        elif event == "annual":
            interval = YEAR
            steps.append(_change(after, plan, interval))
        elif event == "pause":
            paused = True
            steps.append(
                Step(
                    Act.PAUSE,
                    after,
                    pause_days=rng.randint(14, 45),
                    manual_resume=rng.random() < 0.3,
                )
            )
        else:
            recovery = Recovery.NEW_CARD if rng.random() < 0.6 else Recovery.RETRY
            steps.append(Step(Act.FAIL_RENEWAL, rng.randint(0, 20), recovery=recovery))
    endings: list[tuple[str, float]] = [
        ("loyal", 52.0),
        ("canceled_now", 8.0),
        ("canceled_at_period_end", 14.0),
        ("reactivated", 6.0),
        ("saved_by_offer", 6.0),
        ("save_flow_declined", 4.0),
    ]
    if interval is MONTH:
        endings.append(("involuntary_churn", 12.0))
    ending = _weighted(rng, endings)
    after = rng.randint(10, 90)
    if ending == "canceled_now":
        steps.append(Step(Act.CANCEL, after))
    elif ending == "canceled_at_period_end":
        steps.append(Step(Act.CANCEL, after, at_period_end=True))
    elif ending == "reactivated":
        steps += [Step(Act.CANCEL, after, at_period_end=True), Step(Act.REACTIVATE, 2)]
    elif ending == "involuntary_churn":
        steps.append(Step(Act.FAIL_RENEWAL, after))
    elif ending == "saved_by_offer":
        # A downgrade fits Pro customers who find it dear; anyone may take the discount.
        if plan == "pro" and rng.random() < 0.5:
            steps.append(Step(Act.SAVE_FLOW, after, reason="too_expensive", take="downgrade"))
        else:
            reason = rng.choice(("too_expensive", "not_using", "missing_features"))
            steps.append(Step(Act.SAVE_FLOW, after, reason=reason, take="coupon"))
    elif ending == "save_flow_declined":
        reason = rng.choice(("switching_to_competitor", "missing_features", "other"))
        steps.append(Step(Act.SAVE_FLOW, after, reason=reason))
    if ending in ("canceled_now", "canceled_at_period_end", "save_flow_declined") and (
        rng.random() < 0.25
    ):
        ending += "+restarted"
        steps.append(_paid_conversion(rng, rng.randint(15, 60)))
    return steps, ending


def _weighted(rng: random.Random, options: list[tuple[str, float]]) -> str:
    names = [name for name, _ in options]
    weights = [weight for _, weight in options]
    return rng.choices(names, weights=weights, k=1)[0]
