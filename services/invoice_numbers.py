"""Are the provider's invoice numbers what invoicing law asks: one sequence per legal
entity with no gap and no number twice? Read from the engine's invoice mirror (which the
reconciliation keeps complete against the provider).

With an account-level prefix (``[tax.seller] invoice_prefix``: Stripe's "sequential
across the account" numbering) its numbers form one sequence; without one, Stripe numbers
each customer's invoices under the customer's own prefix, and each customer's sequence is
checked on its own. Invoices the engine does not mirror (made by hand in the Dashboard for
a customer it does not know) would show here as gaps: the report names the missing numbers
so they can be looked up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from db.engine import SessionFactory
from db.invoices import invoice_numbers
from domain.invoice_numbers import NumberingReport, check_sequence, parse_number


async def numbering_report(sessions: SessionFactory, prefix: str | None) -> NumberingReport:
    async with sessions() as session:
        numbered = await invoice_numbers(session)
    if prefix is not None:
        ours = [n for _, n in numbered if (parse_number(n) or ("", 0))[0] == prefix]
        return check_sequence(ours)
    by_customer: dict[str, list[str]] = defaultdict(list)
    for customer_id, number in numbered:
        by_customer[customer_id].append(number)
    sequences = []
    unparsed: list[str] = []
    for customer_id in sorted(by_customer):
        report = check_sequence(by_customer[customer_id])
        sequences += [replace(s, prefix=f"{customer_id}:{s.prefix}") for s in report.sequences]
        unparsed += report.unparsed
    return NumberingReport(tuple(sequences), tuple(sorted(unparsed)))
