"""An experiment on the terms: variants that override a plan's price, the annual discount or
the trial length, each a weight of the sign-ups; one of them, the control, the config as is.

A variant's terms are the config's terms with its overrides applied; a variant that changes
amounts sells them from its own price book (``<experiment>.<variant>``), so the provider
holds its prices beside the list prices and a customer's subscription names them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum

from domain.catalog import Catalog, PriceBook
from domain.terms import Terms

BOOK_SEPARATOR = "."


class ExperimentState(StrEnum):
    # Defined, assigning no one.
    DRAFT = "draft"
    # New sign-ups are assigned a variant.
    RUNNING = "running"
    # New sign-ups get the config's terms again; assigned customers keep their variant.
    STOPPED = "stopped"
    # New sign-ups get the winner's terms (until the operator folds them into the config).
    ROLLED_OUT = "rolled_out"


@dataclass(frozen=True)
class Overrides:
    """What a variant changes; nothing for the control."""

    # Plan id -> monthly price (self-serve plans; the annual price follows the discount).
    monthly_price_cents: dict[str, int] = field(default_factory=dict)
    annual_discount_percent: int | None = None
    trial_length: timedelta | None = None

    @property
    def changes_amounts(self) -> bool:
        return bool(self.monthly_price_cents) or self.annual_discount_percent is not None

    @property
    def empty(self) -> bool:
        return not self.changes_amounts and self.trial_length is None

    def describe(self) -> str:
        parts = [
            f"{plan} at {cents / 100:.2f}/month" for plan, cents in self.monthly_price_cents.items()
        ]
        if self.annual_discount_percent is not None:
            parts.append(f"annual discount {self.annual_discount_percent}%")
        if self.trial_length is not None:
            parts.append(f"trial {self.trial_length.days}d")
        return ", ".join(parts) or "the config as is"


@dataclass(frozen=True)
class Variant:
    id: str
    weight: int
    overrides: Overrides = Overrides()


@dataclass(frozen=True)
class Guardrails:
    """How much worse than the control (absolute rate difference) a variant may get."""

    churn_30d_margin: float = 0.05
    decline_rate_margin: float = 0.05


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str
    # The config's state; an operator's stop or rollout (in the database) wins over it.
    state: ExperimentState
    variants: tuple[Variant, ...]
    control: str = "control"
    guardrails: Guardrails = Guardrails()
    # The significance level of every test and the power the minimum detectable effect
    # is stated at.
    alpha: float = 0.05
    power: float = 0.8

    def variant(self, variant_id: str) -> Variant:
        for variant in self.variants:
            if variant.id == variant_id:
                return variant
        raise KeyError(f"experiment {self.id!r} has no variant {variant_id!r}")

    def book(self, variant_id: str) -> str | None:
        """The price book of a variant that changes amounts; None (list prices) otherwise."""
        if not self.variant(variant_id).overrides.changes_amounts:
            return None
        return f"{self.id}{BOOK_SEPARATOR}{variant_id}"


def price_book(overrides: Overrides) -> PriceBook:
    return PriceBook(
        monthly_price_cents=dict(overrides.monthly_price_cents),
        annual_discount_percent=overrides.annual_discount_percent,
    )


def price_books(experiments: tuple[Experiment, ...]) -> dict[str, PriceBook]:
    """The books of every experiment in the config, drafts too: their prices are at the
    provider (``sync-catalog``) before an operator starts one, and customers on a book renew
    from it after the experiment stops."""
    books: dict[str, PriceBook] = {}
    for experiment in experiments:
        for variant in experiment.variants:
            book = experiment.book(variant.id)
            if book is not None:
                books[book] = price_book(variant.overrides)
    return books


def variant_terms(terms: Terms, experiment: Experiment, variant_id: str) -> Terms:
    """``terms`` with exactly the variant's overrides applied. A variant that changes amounts
    gets a catalog in its own book (the list catalog's other books left out)."""
    variant = experiment.variant(variant_id)
    overrides = variant.overrides
    if overrides.empty:
        return terms
    catalog = terms.catalog
    book = experiment.book(variant_id)
    if book is not None:
        catalog = _in_book(catalog, book, price_book(overrides))
    policy = terms.policy
    if overrides.trial_length is not None:
        policy = replace(policy, trial=replace(policy.trial, length=overrides.trial_length))
    return Terms(policy=policy, catalog=catalog)


def _in_book(catalog: Catalog, book: str, prices: PriceBook) -> Catalog:
    unknown = sorted(set(prices.monthly_price_cents) - set(catalog.plans))
    if unknown:
        raise KeyError(f"price book {book!r} prices unknown plan(s) {unknown}")
    return replace(catalog, price_books={book: prices}).in_book(book)


@dataclass(frozen=True)
class Status:
    """An experiment with its effective state: an operator's stop or rollout over the
    config's."""

    experiment: Experiment
    state: ExperimentState
    winner: str | None = None


def effective(
    experiments: tuple[Experiment, ...], changed: dict[str, tuple[str, str | None]]
) -> tuple[Status, ...]:
    """Each experiment's state. ``changed`` maps an experiment to the state and winner an
    operator set (in the database); it wins over the config's ``status``, so a stop holds
    while the config still says running (run it again under a new id)."""
    statuses = []
    for experiment in experiments:
        stored = changed.get(experiment.id)
        if stored is None:
            statuses.append(Status(experiment, experiment.state))
        else:
            statuses.append(Status(experiment, ExperimentState(stored[0]), stored[1]))
    return tuple(statuses)


def deciding(statuses: tuple[Status, ...]) -> Status | None:
    """The experiment whose terms a new sign-up gets: the running one (a variant drawn), else
    a rolled-out one (its winner); None: the config's terms. One experiment decides, so a
    sign-up's terms come from one variant and one price book."""
    running = [s for s in statuses if s.state is ExperimentState.RUNNING]
    if running:
        return running[0]
    rolled = [s for s in statuses if s.state is ExperimentState.ROLLED_OUT and s.winner]
    return rolled[0] if rolled else None
