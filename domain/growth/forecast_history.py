"""The monthly observations the revenue forecast (``domain.growth.forecast``) is fitted on,
read from the replayed ledger (``domain.reporting.ledger.History``) and the invoice mirror.

* **The grid.** Month boundaries counted back from the forecast's moment ``as_of``:
  ``t_i = as_of - (K - i) months`` (calendar months, the day clamped), so the last window
  ``[t_{K-1}, t_K)`` ends exactly at ``as_of`` and no window is partial. At most
  :data:`MAX_HISTORY_MONTHS` windows; older rows still shape every state through the replay.
* **MRR** at ``t`` is the reports' recurring MRR: the sum of the paying customers' MRR
  after every ledger row before ``t``. **Tenure** is whole months since a customer's first
  revenue, pooled beyond :data:`TENURE_CAP`.
* **Per window**, for the customers paying at its start, by tenure bucket: their MRR then
  and what is left of it at its end (churn, contraction and expansion netted); MRR that
  returns from customers who had paid before (resumes, restarts); MRR moving from monthly
  onto annual billing; new customers (first revenue in the window) via a trial started at
  most :data:`MAX_LAG` windows before, or direct; trials started; and, per trial cohort, its
  first payments by lag.
* **Cash.** ``scheduled``: what the ledger says was billed: each paying spell (a run of
  MRR > 0 on one interval) bills its MRR monthly, or 12 x MRR yearly, from the spell's
  start (prorations left out). ``invoiced``: the invoice mirror's finalized totals (not
  draft or void), by creation time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from domain.months import add_months
from domain.reporting.ledger import History, InvoiceRow, Step
from domain.reporting.periods import utc

MAX_HISTORY_MONTHS = 48
TENURE_CAP = 12
# Tenure buckets [low, high) in months: the first quarter, the rest of the first year, later.
BUCKETS: tuple[tuple[int, int], ...] = ((0, 3), (3, 12), (12, TENURE_CAP + 1))
BUCKET_LABELS: tuple[str, ...] = ("0-2 months", "3-11 months", "12+ months")
MAX_LAG = 3
_UNBILLED = frozenset({"draft", "void"})


def bucket_of(tenure: int) -> int:
    return next(b for b, (low, high) in enumerate(BUCKETS) if low <= min(tenure, TENURE_CAP) < high)


def months_between(start: datetime, end: datetime) -> int:
    """Whole calendar months from ``start`` to ``end`` (0 when ``end`` is not later)."""
    n = (end.year - start.year) * 12 + end.month - start.month
    if n > 0 and add_months(start, n) > end:
        n -= 1
    return max(n, 0)


@dataclass
class WindowObservation:
    start: datetime
    end: datetime
    # Per tenure bucket: the paying customers at the start, their MRR then and at the end.
    base_customers: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    base_cents: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    kept_cents: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    returning_cents: int = 0
    # Of the base: the MRR billed monthly; and what of it moved onto an annual plan.
    monthly_base_cents: int = 0
    switched_cents: int = 0
    # New customers (first revenue in the window) and their MRR at its end.
    trial_new_customers: int = 0
    trial_new_cents: int = 0
    direct_new_customers: int = 0
    direct_new_cents: int = 0
    annual_new_cents: int = 0
    trial_starts: int = 0
    # Of this window's trial cohort: first payments MAX_LAG + 1 windows on (0 = this one).
    conversions_by_lag: list[int] = field(default_factory=lambda: [0] * (MAX_LAG + 1))
    mrr_end_cents: int = 0
    paying_end: int = 0
    scheduled_cents: int = 0
    invoiced_cents: int = 0

    @property
    def base_total_cents(self) -> int:
        return sum(self.base_cents)

    @property
    def new_cents(self) -> int:
        return self.trial_new_cents + self.direct_new_cents


@dataclass(frozen=True)
class PayingCustomer:
    """A customer paying at a cutoff, as the forecast carries it forward."""

    mrr_cents: int
    tenure: int
    annual: bool
    # Annual: the first renewal at or after the cutoff.
    renews_at: datetime | None


@dataclass(frozen=True)
class _Spell:
    start: datetime
    annual: bool
    end: datetime | None


class RevenueBook:
    """The grid, its windows' observations and each customer's paying spells up to
    ``as_of``: what every fit (the live one and the backtest's) reads, each only up to its
    cutoff."""

    def __init__(self, history: History, invoices: Sequence[InvoiceRow], as_of: datetime) -> None:
        self.history = history
        self.as_of = as_of
        first_row = min((s.at for s in history.steps), default=None)
        self.months = (
            0
            if first_row is None or first_row >= as_of
            else min(months_between(first_row, as_of) + 1, MAX_HISTORY_MONTHS)
        )
        self.grid = [self.time(i) for i in range(self.months + 1)]
        self.windows = [
            WindowObservation(self.grid[i], self.grid[i + 1]) for i in range(self.months)
        ]
        self._spells: dict[str, list[_Spell]] = {}
        self._first_revenue: dict[str, datetime] = {}
        self.has_invoices = False
        self._observe(invoices)
        self.first_revenue_window = next(
            (i for i, w in enumerate(self.windows) if w.mrr_end_cents > 0 or w.base_total_cents),
            None,
        )

    def time(self, index: int) -> datetime:
        """Boundary ``index`` of the grid; beyond ``months`` it runs into the future."""
        return add_months(self.as_of, index - self.months)

    def window_of(self, moment: datetime) -> int:
        """The index of the window holding ``moment`` (negative before the grid)."""
        index = self.months - months_between(moment, self.as_of) - 1
        while self.time(index) > moment:
            index -= 1
        while self.time(index + 1) <= moment:
            index += 1
        return index

    def revenue_months(self, cutoff: int) -> int:
        """Windows before ``cutoff`` since the first one with revenue."""
        if self.first_revenue_window is None:
            return 0
        return max(cutoff - self.first_revenue_window, 0)

    def invoiced_before(self, cutoff: int) -> bool:
        return self.has_invoices and any(w.invoiced_cents for w in self.windows[:cutoff])

    def paying_at(self, cutoff: int) -> list[PayingCustomer]:
        at = self.grid[cutoff]
        found = []
        for cid in self.history.customers:
            state = self.history.state(cid, at)
            if state.mrr_cents <= 0:
                continue
            tenure = months_between(self._first_revenue.get(cid, at), at)
            spell = next(
                (s for s in self._spells.get(cid, ()) if s.start < at and (s.end or at) >= at),
                None,
            )
            renews_at = None
            if spell is not None and spell.annual:
                years = 0
                while add_months(spell.start, 12 * years) < at:
                    years += 1
                renews_at = add_months(spell.start, 12 * years)
            found.append(PayingCustomer(state.mrr_cents, tenure, renews_at is not None, renews_at))
        return found

    # -- reading the ledger once --------------------------------------------------------

    def _observe(self, invoices: Iterable[InvoiceRow]) -> None:
        steps: dict[str, list[Step]] = defaultdict(list)
        for step in self.history.steps:
            steps[step.customer_id].append(step)
        for cid, own in steps.items():
            self._observe_customer(cid, own)
        for invoice in invoices:
            if invoice.status in _UNBILLED:
                continue
            created = utc(invoice.created_at)
            if created >= self.as_of:
                continue
            self.has_invoices = True
            index = self.window_of(created)
            if 0 <= index < self.months:
                self.windows[index].invoiced_cents += invoice.total_cents

    def _observe_customer(self, cid: str, steps: list[Step]) -> None:
        first = next((s.at for s in steps if s.after.mrr_cents > 0), None)
        trial = next((s.at for s in steps if s.row.kind == "trial_started"), None)
        if first is not None:
            self._first_revenue[cid] = first
        states = [self.history.state(cid, t) for t in self.grid]
        for i, window in enumerate(self.windows):
            before, after = states[i], states[i + 1]
            if before.mrr_cents > 0:
                bucket = bucket_of(months_between(first or window.start, window.start))
                window.base_customers[bucket] += 1
                window.base_cents[bucket] += before.mrr_cents
                window.kept_cents[bucket] += max(after.mrr_cents, 0)
                if before.interval != "year":
                    window.monthly_base_cents += before.mrr_cents
            elif first is not None and first < window.start and after.mrr_cents > 0:
                window.returning_cents += after.mrr_cents
            if after.mrr_cents > 0:
                window.mrr_end_cents += after.mrr_cents
                window.paying_end += 1
        trial_window = self.window_of(trial) if trial is not None else None
        if trial_window is not None and 0 <= trial_window < self.months:
            self.windows[trial_window].trial_starts += 1
        if first is not None:
            index = self.window_of(first)
            if 0 <= index < self.months:
                window, mrr = self.windows[index], max(states[index + 1].mrr_cents, 0)
                # The trial counts as the way in when it came first, within MAX_LAG windows.
                cohort = trial_window if trial is not None and trial <= first else None
                if cohort is not None and index - cohort <= MAX_LAG:
                    window.trial_new_customers += 1
                    window.trial_new_cents += mrr
                    if cohort >= 0:
                        self.windows[cohort].conversions_by_lag[index - cohort] += 1
                else:
                    window.direct_new_customers += 1
                    window.direct_new_cents += mrr
                if states[index + 1].interval == "year":
                    window.annual_new_cents += mrr
        self._spells[cid] = spells = _spells_of(steps)
        for spell in spells:
            self._schedule(cid, spell)
            if not spell.annual or spell.start < self.grid[0] or spell.start >= self.as_of:
                continue
            index = bisect_right(self.grid, spell.start) - 1
            before = states[index]
            if before.mrr_cents > 0 and before.interval != "year":
                mrr = self.history.state(cid, spell.start, inclusive=True).mrr_cents
                self.windows[index].switched_cents += max(mrr, 0)

    def _schedule(self, cid: str, spell: _Spell) -> None:
        """Add the spell's bills that fall on the grid to the windows' scheduled cash."""
        step, factor = (12, 12) if spell.annual else (1, 1)
        until = min(spell.end or self.as_of, self.as_of)
        if self.months == 0:
            return
        n = max(months_between(spell.start, self.grid[0]) // step - 1, 0)
        while (bill := add_months(spell.start, n * step)) < until:
            if bill >= self.grid[0]:
                mrr = self.history.state(cid, bill, inclusive=True).mrr_cents
                self.windows[bisect_right(self.grid, bill) - 1].scheduled_cents += (
                    max(mrr, 0) * factor
                )
            n += 1


def _spells_of(steps: Sequence[Step]) -> list[_Spell]:
    """Runs of MRR > 0 on one billing interval: each bills from its start."""
    spells: list[_Spell] = []
    open_at: datetime | None = None
    annual = False
    for step in steps:
        paying = step.after.mrr_cents > 0
        yearly = step.after.interval == "year"
        if open_at is not None and (not paying or yearly != annual):
            spells.append(_Spell(open_at, annual, step.at))
            open_at = None
        if paying and open_at is None:
            open_at, annual = step.at, yearly
    if open_at is not None:
        spells.append(_Spell(open_at, annual, None))
    return spells
