"""The plan catalog and its prices. Amounts are integers in the minor unit of the catalog's
``currency`` (cents; yen for JPY): ``Catalog.in_currency`` gives the catalog in another of
its currencies, where the same arithmetic holds.

Currency rule (Stripe's): a customer's currency is fixed by its first subscription; its
terms carry the catalog in that currency (``services.regions``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from domain.lifecycle import BillingInterval
from domain.money import round_half_up

METRICS: tuple[str, ...] = ("chatbots", "messages", "tokens", "api_calls")


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    # None for sales-led plans whose price is set per contract.
    monthly_price_cents: int | None
    self_serve: bool
    # None means "per contract": the limit comes from an admin override.
    limits: dict[str, int | None] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    # The monthly price in every currency sold, in its minor unit (the catalog's own
    # currency included); empty for a plan priced in the catalog's currency only.
    prices: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Addon:
    id: str
    name: str
    # "recurring" is billed every period, "one_off" once for the current period,
    # "feature" is a recurring on/off entitlement.
    kind: str
    price_cents: int
    metric: str | None = None
    amount: int = 0
    # ``price_cents`` in every currency sold (minor units), as ``Plan.prices``.
    prices: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Coupon:
    """A discount on the first invoice of a subscription (a Stripe coupon, duration once)."""

    id: str
    percent_off: int


@dataclass(frozen=True)
class PriceBook:
    """Plan prices sold beside the list prices (an experiment variant's): the provider has
    them under their own lookup keys (``domain.payments.PriceRef``). Add-ons keep their
    list prices in every book: their lookup keys have no book."""

    # Self-serve plans whose monthly price differs from the list.
    monthly_price_cents: dict[str, int] = field(default_factory=dict)
    # The discount of annual plan prices, when it differs from the list's.
    annual_discount_percent: int | None = None
    # Monthly plan prices in other currencies (currency -> plan -> minor units), where the
    # book sets them itself (a region's local prices); elsewhere the book's ratio to the
    # list price applies to that currency's list price.
    prices: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    plans: dict[str, Plan]
    addons: dict[str, Addon]
    annual_discount_percent: int
    currency: str = "usd"
    coupons: dict[str, Coupon] = field(default_factory=dict)
    # The book this catalog's plan prices come from: None for the list prices.
    price_book: str | None = None
    # Set in a book's catalog that changes the annual discount: plans only (add-ons keep
    # ``annual_discount_percent``, as their provider prices do).
    plan_annual_discount_percent: int | None = None
    # The other books the provider sells (the list catalog knows them, so the catalog sync
    # creates their prices and the simulator resolves them).
    price_books: dict[str, PriceBook] = field(default_factory=dict)
    # Every currency the provider's prices are sold in (Stripe ``currency_options``), the
    # catalog's own first; empty for a one-currency catalog.
    currencies: tuple[str, ...] = ()

    def sells_in(self, currency: str) -> bool:
        return currency.lower() == self.currency or currency.lower() in self.currencies

    def in_currency(self, currency: str) -> Catalog:
        """This catalog with every amount in ``currency`` (one of ``currencies``), which
        becomes its ``currency``; KeyError for a currency it is not sold in.

        A price book's plan prices in another currency are its own there (a region's,
        ``PriceBook.prices``), else that currency's list price scaled by the book's ratio to
        the list price (an experiment variant's), rounded half up to the minor unit."""
        wanted = currency.lower()
        if wanted == self.currency:
            return self
        if wanted not in self.currencies:
            raise KeyError(f"the catalog is not sold in {wanted!r}")

        def amount(owner: str, prices: dict[str, int]) -> int:
            try:
                return prices[wanted]
            except KeyError:
                raise KeyError(f"{owner} has no {wanted} price") from None

        plans = {
            plan_id: plan
            if plan.monthly_price_cents is None
            else replace(
                plan,
                monthly_price_cents=amount(f"plan {plan_id!r}", plan.prices),
            )
            for plan_id, plan in self.plans.items()
        }
        books = {
            book_id: replace(
                book,
                monthly_price_cents={
                    plan_id: book.prices.get(wanted, {}).get(plan_id)
                    or _scaled(
                        plans[plan_id].monthly_price_cents,
                        booked,
                        self.plans[plan_id].monthly_price_cents,
                    )
                    for plan_id, booked in book.monthly_price_cents.items()
                    if plan_id in plans
                },
            )
            for book_id, book in self.price_books.items()
        }
        return replace(
            self,
            plans=plans,
            addons={
                addon_id: replace(
                    addon,
                    price_cents=amount(f"add-on {addon_id!r}", addon.prices),
                )
                for addon_id, addon in self.addons.items()
            },
            currency=wanted,
            price_books=books,
        )

    def in_book(self, book: str | None) -> Catalog:
        """This catalog at one of its books' prices; KeyError for a book it does not know."""
        if book is None or book == self.price_book:
            return self
        try:
            prices = self.price_books[book]
        except KeyError:
            raise KeyError(f"unknown price book {book!r}") from None
        return replace(
            self,
            plans={
                plan_id: replace(plan, monthly_price_cents=prices.monthly_price_cents[plan_id])
                if plan_id in prices.monthly_price_cents
                else plan
                for plan_id, plan in self.plans.items()
            },
            price_book=book,
            plan_annual_discount_percent=prices.annual_discount_percent,
            price_books={},
        )

    def plan(self, plan_id: str) -> Plan:
        try:
            return self.plans[plan_id]
        except KeyError:
            raise KeyError(f"unknown plan {plan_id!r}") from None

    @property
    def plan_discount_percent(self) -> int:
        """The discount of annual plan prices in this catalog's book."""
        if self.plan_annual_discount_percent is None:
            return self.annual_discount_percent
        return self.plan_annual_discount_percent

    def annual_price_cents(self, plan: Plan) -> int | None:
        if plan.monthly_price_cents is None:
            return None
        return round_half_up(
            12 * plan.monthly_price_cents * (100 - self.plan_discount_percent), 100
        )

    def annual_saving_cents(self, plan: Plan) -> int | None:
        annual = self.annual_price_cents(plan)
        if annual is None or plan.monthly_price_cents is None:
            return None
        return 12 * plan.monthly_price_cents - annual

    def price_cents(self, plan: Plan, interval: BillingInterval) -> int | None:
        if interval is BillingInterval.YEAR:
            return self.annual_price_cents(plan)
        return plan.monthly_price_cents

    def addon_price_cents(self, addon: Addon, interval: BillingInterval | None) -> int:
        """Recurring add-ons follow the plan's interval (annual: 12 x monthly less the
        discount); one-off packs have one price."""
        if addon.kind == "one_off" or interval is not BillingInterval.YEAR:
            return addon.price_cents
        return round_half_up(12 * addon.price_cents * (100 - self.annual_discount_percent), 100)

    def addon_monthly_recurring_cents(self, addon: Addon, interval: BillingInterval) -> int:
        if addon.kind == "one_off":
            return 0
        price = self.addon_price_cents(addon, interval)
        return round_half_up(price, 12) if interval is BillingInterval.YEAR else price

    def monthly_recurring_cents(self, plan: Plan, interval: BillingInterval) -> int:
        """MRR contribution: annual plans count one twelfth per month."""
        price = self.price_cents(plan, interval)
        if price is None:
            return 0
        if interval is BillingInterval.YEAR:
            return round_half_up(price, 12)
        return price


def _scaled(local_list: int | None, booked: int, list_price: int | None) -> int:
    """A book's price in another currency: its ratio to the list price, applied there."""
    if local_list is None or not list_price:
        return booked
    return round_half_up(local_list * booked, list_price)
