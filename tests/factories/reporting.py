"""A small scripted history: ten customers, December 2025 to April 2026.

Prices (lifecycle.toml): starter 2,900 a month; pro 9,900 a month; pro annual 100,980 a
year = 8,415 MRR (round(100,980 / 12)); an extra chatbot on an annual plan 5,100 a year =
425 MRR each; a message pack 1,000 (one-off, the overage). Every event at 12:00 UTC.

  A  trial 2025-12-01, converts within the trial 2025-12-10 to starter/month (+2,900);
     upgrades to pro 02-10 (+7,000); buys a message pack 04-20 (overage 1,000).
  B  trial 01-05, converts 01-12 to pro/month (+9,900); 2,000 of its first charge refunded
     01-20; downgrades to starter at the renewal 03-12 (-7,000); the 04-12 renewal fails:
     past_due at the end (keeps its 2,900 MRR).
  C  trial 01-06, converts 01-15 to pro/year (+8,415); buys 2 extra chatbots 02-01 (+850).
  D  trial 01-08, converts 01-20 to starter/month (+2,900); renewal fails 02-20, retries
     fail, dunning exhausted 02-27: canceled, involuntary (-2,900).
  E  trial 01-10, converts 01-22 to pro/month (+9,900); renewal fails 02-22, recovered
     02-24; cancels at period end (scheduled 03-05, canceled 03-22, voluntary, -9,900).
  F  trial 01-12, converts 01-25 to starter/month (+2,900); pauses 02-10 (-2,900), resumes
     03-10 (+2,900, reactivation).
  G  trial 02-02, expires 02-16, converts after two win-back emails 02-26 to starter/month
     (+2,900; first invoice 2,320 with the 20 % win-back coupon).
  H  trial 02-03, expires 02-17, never converts.
  I  trial 04-25, still trialing at the end.
  J  trial 02-20, expires 03-06, converts 03-08 (no win-back sent yet) to pro/month (+9,900).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from db.engine import create_engine, session_factory
from db.invoices import upsert_invoice
from db.ledger import append_ledger, verify_chain
from db.models import Customer
from domain.payments import InvoiceInfo
from domain.reporting.ledger import InvoiceRow, LedgerRow
from tests.factories.records import append_row

LETTERS = "ABCDEFGHIJ"
START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 5, 1, tzinfo=UTC)


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


@dataclass
class Script:
    ids: dict[str, str]
    rows: list[LedgerRow] = field(default_factory=list)
    invoices: list[InvoiceRow] = field(default_factory=list)
    _state: dict[str, tuple[str | None, str | None, str | None]] = field(default_factory=dict)

    def event(
        self,
        who: str,
        when: datetime,
        kind: str,
        *,
        status: str | None = None,
        plan: str | None = None,
        interval: str | None = None,
        delta: int = 0,
        data: dict[str, Any] | None = None,
    ) -> None:
        """A lifecycle row as the workflow writes it: status, plan, interval after it."""
        previous = self._state.get(who, (None, "starter", None))
        now = (
            status or previous[0],
            plan or previous[1],
            interval or previous[2],
        )
        self._state[who] = now
        self.rows.append(
            LedgerRow(
                customer_id=self.ids[who],
                kind=kind,
                occurred_at=when,
                from_status=previous[0],
                to_status=now[0],
                plan=now[1],
                interval=now[2],
                mrr_delta_cents=delta,
                data=data or {},
                actor="system",
                id=len(self.rows) + 1,
            )
        )

    def refund(self, who: str, when: datetime, invoice: str, cents: int) -> None:
        self.rows.append(
            LedgerRow(
                customer_id=self.ids[who],
                kind="charge_refunded",
                occurred_at=when,
                data={
                    "event_id": f"evt_refund_{self.ids[who]}",
                    "type": "charge.refunded",
                    "charge_id": f"ch_{self.ids[who]}_1",
                    "invoice_id": self.invoice_id(who, invoice),
                    "amount_refunded_cents": cents,
                    "currency": "usd",
                },
                actor="stripe",
                id=len(self.rows) + 1,
            )
        )

    def invoice_id(self, who: str, suffix: str) -> str:
        return f"in_{self.ids[who]}_{suffix}"

    def invoice(
        self,
        who: str,
        suffix: str,
        when: datetime,
        cents: int,
        reason: str,
        *,
        status: str = "paid",
        paid_at: datetime | None = None,
    ) -> None:
        paid = status == "paid"
        self.invoices.append(
            InvoiceRow(
                id=self.invoice_id(who, suffix),
                customer_id=self.ids[who],
                status=status,
                currency="usd",
                created_at=when,
                amount_paid_cents=cents if paid else 0,
                amount_due_cents=cents,
                subtotal_cents=cents,
                total_cents=cents,
                amount_remaining_cents=0 if paid else cents,
                number=f"N-{suffix}",
                billing_reason=reason,
                period_start=when,
                period_end=None,
                paid_at=(paid_at or when) if paid else None,
            )
        )


def trial(s: Script, who: str, when: datetime) -> None:
    s.event(who, when, "trial_started", status="trialing", plan="starter")


def convert(
    s: Script,
    who: str,
    when: datetime,
    plan: str,
    interval: str,
    mrr: int,
    *,
    from_status: str = "trialing",
    winbacks: int = 0,
) -> None:
    s.event(
        who,
        when,
        "trial_converted",
        status="active",
        plan=plan,
        interval=interval,
        delta=mrr,
        data={"via": "api", "converted_from": from_status, "winbacks_sent": winbacks},
    )


def scripted_history(ids: dict[str, str]) -> Script:
    s = Script(ids)
    # A
    trial(s, "A", at(12, 1, 2025))
    convert(s, "A", at(12, 10, 2025), "starter", "month", 2900)
    s.invoice("A", "1", at(12, 10, 2025), 2900, "subscription_create")
    s.invoice("A", "2", at(1, 10), 2900, "subscription_cycle")
    s.event("A", at(2, 10), "plan_changed", plan="pro", delta=7000, data={"change": "upgrade"})
    s.invoice("A", "3", at(2, 10), 4750, "subscription_update")
    s.invoice("A", "4", at(3, 10), 9900, "subscription_cycle")
    s.invoice("A", "5", at(4, 10), 9900, "subscription_cycle")
    s.event(
        "A",
        at(4, 20),
        "addon_purchased",
        data={"addon": "message_pack", "kind": "one_off", "quantity": 1, "amount_paid_cents": 1000},
    )
    s.invoice("A", "6", at(4, 20), 1000, "manual")
    # B
    trial(s, "B", at(1, 5))
    convert(s, "B", at(1, 12), "pro", "month", 9900)
    s.invoice("B", "1", at(1, 12), 9900, "subscription_create")
    s.refund("B", at(1, 20), "1", 2000)
    s.invoice("B", "2", at(2, 12), 9900, "subscription_cycle")
    s.event(
        "B", at(3, 12), "plan_changed", plan="starter", delta=-7000, data={"change": "downgrade"}
    )
    s.invoice("B", "3", at(3, 12), 2900, "subscription_cycle")
    s.invoice("B", "4", at(4, 12), 2900, "subscription_cycle", status="open")
    s.event("B", at(4, 12), "payment_failed", status="past_due", data={"invoice_id": "x"})
    # C
    trial(s, "C", at(1, 6))
    convert(s, "C", at(1, 15), "pro", "year", 8415)
    s.invoice("C", "1", at(1, 15), 100980, "subscription_create")
    s.event(
        "C",
        at(2, 1),
        "addon_purchased",
        delta=850,
        data={
            "addon": "extra_chatbot",
            "kind": "recurring",
            "quantity": 2,
            "amount_paid_cents": 9350,
        },
    )
    s.invoice("C", "2", at(2, 1), 9350, "subscription_update")
    # D
    trial(s, "D", at(1, 8))
    convert(s, "D", at(1, 20), "starter", "month", 2900)
    s.invoice("D", "1", at(1, 20), 2900, "subscription_create")
    s.invoice("D", "2", at(2, 20), 2900, "subscription_cycle", status="uncollectible")
    s.event("D", at(2, 20), "payment_failed", status="past_due")
    s.event("D", at(2, 21), "payment_retry_failed")
    s.event(
        "D",
        at(2, 27),
        "subscription_canceled",
        status="canceled",
        delta=-2900,
        data={"reason": "dunning_exhausted", "voluntary": False},
    )
    # E
    trial(s, "E", at(1, 10))
    convert(s, "E", at(1, 22), "pro", "month", 9900)
    s.invoice("E", "1", at(1, 22), 9900, "subscription_create")
    s.event("E", at(2, 22), "payment_failed", status="past_due")
    s.event("E", at(2, 24), "payment_recovered", status="active", data={"via": "retry"})
    s.invoice("E", "2", at(2, 22), 9900, "subscription_cycle", paid_at=at(2, 24))
    s.event("E", at(3, 5), "cancellation_scheduled")
    s.event(
        "E",
        at(3, 22),
        "subscription_canceled",
        status="canceled",
        delta=-9900,
        data={"reason": "cancel_at_period_end", "voluntary": True},
    )
    # F
    trial(s, "F", at(1, 12))
    convert(s, "F", at(1, 25), "starter", "month", 2900)
    s.invoice("F", "1", at(1, 25), 2900, "subscription_create")
    s.event("F", at(2, 10), "subscription_paused", status="paused", delta=-2900)
    s.event("F", at(3, 10), "subscription_resumed", status="active", delta=2900)
    s.invoice("F", "2", at(3, 25), 2900, "subscription_cycle")
    s.invoice("F", "3", at(4, 25), 2900, "subscription_cycle")
    # G
    trial(s, "G", at(2, 2))
    s.event("G", at(2, 16), "trial_expired", status="trial_expired")
    convert(s, "G", at(2, 26), "starter", "month", 2900, from_status="trial_expired", winbacks=2)
    s.invoice("G", "1", at(2, 26), 2320, "subscription_create")
    s.invoice("G", "2", at(3, 26), 2900, "subscription_cycle")
    s.invoice("G", "3", at(4, 26), 2900, "subscription_cycle")
    # H
    trial(s, "H", at(2, 3))
    s.event("H", at(2, 17), "trial_expired", status="trial_expired")
    # I
    trial(s, "I", at(4, 25))
    # J
    trial(s, "J", at(2, 20))
    s.event("J", at(3, 6), "trial_expired", status="trial_expired")
    convert(s, "J", at(3, 8), "pro", "month", 9900, from_status="trial_expired")
    s.invoice("J", "1", at(3, 8), 9900, "subscription_create")
    s.invoice("J", "2", at(4, 8), 9900, "subscription_cycle")
    # The ledger's order is time order (ids follow it), as the real ledger's mostly is.
    s.rows = [
        replace(row, id=n)
        for n, row in enumerate(sorted(s.rows, key=lambda r: r.occurred_at), start=1)
    ]
    return s


async def write_history(url: str, script: Script) -> None:
    """Write the history into a migrated database: customers, ledger rows through
    ``append_ledger`` (with email audit rows as noise), invoices through the mirror."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    recorded = datetime(2026, 5, 2, tzinfo=UTC)
    try:
        async with sessions.begin() as session:
            for letter, cid in script.ids.items():
                session.add(
                    Customer(
                        id=cid,
                        external_id=f"ext-{cid}",
                        email=f"{letter.lower()}@example.com",
                        status="trialing",
                        plan="starter",
                        created_at=recorded,
                        updated_at=recorded,
                    )
                )
        async with sessions.begin() as session:
            for row in script.rows:
                await append_row(
                    session, row, event_key=f"{row.customer_id}:{row.id}", recorded_at=recorded
                )
                # Audit noise the metrics must ignore: an email per event.
                await append_ledger(
                    session,
                    {
                        "event_key": f"email:{row.customer_id}:{row.id}",
                        "customer_id": row.customer_id,
                        "kind": "email_sent",
                        "actor": "system",
                        "from_status": None,
                        "to_status": None,
                        "plan": None,
                        "interval": None,
                        "mrr_delta_cents": 0,
                        "data": {"template": "x"},
                        "occurred_at": row.occurred_at,
                        "recorded_at": recorded,
                    },
                )
            for invoice in script.invoices:
                # Through the mirror, which also appends the invoice_paid audit row.
                await upsert_invoice(
                    session,
                    invoice.customer_id,
                    InvoiceInfo(
                        id=invoice.id,
                        customer=f"cus_{invoice.customer_id}",
                        subscription=f"sub_{invoice.customer_id}",
                        number=invoice.number,
                        status=invoice.status,
                        currency=invoice.currency,
                        subtotal_cents=invoice.subtotal_cents,
                        total_cents=invoice.total_cents,
                        amount_due_cents=invoice.amount_due_cents,
                        amount_paid_cents=invoice.amount_paid_cents,
                        amount_remaining_cents=invoice.amount_remaining_cents,
                        billing_reason=invoice.billing_reason,
                        created=invoice.created_at,
                        period_start=invoice.period_start,
                        paid_at=invoice.paid_at,
                    ),
                    now=recorded,
                )
        async with sessions() as session:
            assert (await verify_chain(session)).broken is None
    finally:
        await engine.dispose()
