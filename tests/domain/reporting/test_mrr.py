"""MRR, ARR and the MRR movements (``domain.reporting.mrr``) on the scripted history."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from domain.reporting.ledger import MovementType
from domain.reporting.report import Report, compute_report
from tests.factories.reporting import END, START, Script

NEW, EXPANSION, CONTRACTION, CHURNED, REACTIVATED = (
    MovementType.NEW,
    MovementType.EXPANSION,
    MovementType.CONTRACTION,
    MovementType.CHURNED,
    MovementType.REACTIVATED,
)


def test_mrr_arr_and_customers_at_the_end(report: Report) -> None:
    # Recurring at May 1: A 9900 + B 2900 + C 9265 + F 2900 + G 2900 + J 9900 = 37765.
    assert report.recurring_mrr_cents == 37765
    # Overage: message packs billed in [Apr 1, May 1): A's pack on 04-20, 1000.
    assert report.overage_mrr_cents == 1000
    assert report.mrr_cents == 37765 + 1000 == 38765
    assert report.arr_cents == 12 * 38765 == 465180
    # Statuses at May 1: active A C F G J; past_due B; trialing I; trial_expired H;
    # canceled D E; nobody paused.
    assert dict(report.status_counts) == {
        "trialing": 1,
        "trial_expired": 1,
        "active": 5,
        "past_due": 1,
        "paused": 0,
        "canceled": 2,
    }
    # Paying = recurring MRR > 0: A B C F G J (B is past due but keeps its MRR).
    assert report.paying_customers == 6


def test_mrr_movements_with_the_customers_behind_them(report: Report) -> None:
    moves = report.movements
    # new: B 9900 (01-12), C 8415, D 2900, E 9900, F 2900, G 2900 (02-26), J 9900 (03-08).
    # A converted in December: before the range, so not new here.
    assert moves.cents(NEW) == 9900 + 8415 + 2900 + 9900 + 2900 + 2900 + 9900 == 46815
    # expansion: A starter -> pro +7000; C two chatbots +850.
    assert moves.cents(EXPANSION) == 7850
    # contraction: B pro -> starter -7000.
    assert moves.cents(CONTRACTION) == -7000
    # churned: F paused -2900, D dunning -2900, E canceled -9900.
    assert moves.cents(CHURNED) == -15700
    # reactivated: F resumed +2900 (it had MRR before).
    assert moves.cents(REACTIVATED) == 2900
    assert moves.net_cents == 46815 + 7850 - 7000 - 15700 + 2900 == 34865
    # Reconciles: MRR at Jan 1 (A's 2900) + net = MRR at May 1.
    assert (moves.starting_mrr_cents, moves.ending_mrr_cents) == (2900, 37765)
    assert 2900 + 34865 == 37765
    assert (moves.transfer_in_cents, moves.transfer_out_cents) == (0, 0)

    def customers(kind: MovementType) -> list[tuple[str, int]]:
        return [(c.customer_id, c.cents) for c in moves.totals[kind].customers]

    # Largest first, then by id.
    assert customers(NEW) == [
        ("B", 9900),
        ("E", 9900),
        ("J", 9900),
        ("C", 8415),
        ("D", 2900),
        ("F", 2900),
        ("G", 2900),
    ]
    assert customers(EXPANSION) == [("A", 7000), ("C", 850)]
    assert customers(CONTRACTION) == [("B", -7000)]
    assert customers(CHURNED) == [("E", -9900), ("D", -2900), ("F", -2900)]
    assert customers(REACTIVATED) == [("F", 2900)]
    # One entry per MRR-changing event, in time order: 14 of them.
    assert [(m.customer_id, m.type, m.cents) for m in moves.entries] == [
        ("B", NEW, 9900),
        ("C", NEW, 8415),
        ("D", NEW, 2900),
        ("E", NEW, 9900),
        ("F", NEW, 2900),
        ("C", EXPANSION, 850),
        ("A", EXPANSION, 7000),
        ("F", CHURNED, -2900),
        ("G", NEW, 2900),
        ("D", CHURNED, -2900),
        ("J", NEW, 9900),
        ("F", REACTIVATED, 2900),
        ("B", CONTRACTION, -7000),
        ("E", CHURNED, -9900),
    ]
    voluntary = {m.customer_id: m.voluntary for m in moves.entries if m.type is CHURNED}
    assert voluntary == {"F": True, "D": False, "E": True}


def test_monthly_mrr_series(report: Report) -> None:
    series = [
        (
            p.month,
            p.at,
            p.mrr_cents,
            p.overage_mrr_cents,
            *(p.movements[t] for t in (NEW, EXPANSION, CONTRACTION, CHURNED, REACTIVATED)),
            p.net_cents,
        )
        for p in report.mrr_series
    ]
    assert series == [
        # Jan: new B C D E F = 9900 + 8415 + 2900 + 9900 + 2900 = 34015; 2900 + 34015.
        ("2026-01", datetime(2026, 2, 1, tzinfo=UTC), 36915, 0, 34015, 0, 0, 0, 0, 34015),
        # Feb: new G 2900; expansion 7000 + 850; churned F, D -5800; net 4950.
        ("2026-02", datetime(2026, 3, 1, tzinfo=UTC), 41865, 0, 2900, 7850, 0, -5800, 0, 4950),
        # Mar: new J 9900; contraction B -7000; churned E -9900; reactivated F 2900.
        (
            "2026-03",
            datetime(2026, 4, 1, tzinfo=UTC),
            37765,
            0,
            9900,
            0,
            -7000,
            -9900,
            2900,
            -4100,
        ),
        # Apr: no recurring change; A's 1000 message pack is the overage: 37765 + 1000.
        ("2026-04", datetime(2026, 5, 1, tzinfo=UTC), 38765, 1000, 0, 0, 0, 0, 0, 0),
    ]
    # The last point is the headline figure.
    assert report.mrr_series[-1].mrr_cents == report.mrr_cents


def test_plan_filter_counts_customers_under_their_plan_at_the_time(script: Script) -> None:
    pro = compute_report(script.rows, script.invoices, start=START, end=END, plan="pro")
    # On pro at May 1: A 9900, C 9265, J 9900 (E canceled on pro; B now on starter).
    assert pro.recurring_mrr_cents == 29065
    # A was on pro when it bought the pack.
    assert pro.overage_mrr_cents == 1000
    assert (pro.status_counts["active"], pro.status_counts["canceled"]) == (3, 1)
    assert pro.status_counts["past_due"] == 0
    moves = pro.movements
    # Under pro: new B 9900, C 8415, E 9900, J 9900; expansion A 7000 (the row that moved A
    # onto pro), C 850; churned E; B's downgrade counts under starter.
    assert moves.cents(NEW) == 9900 + 8415 + 9900 + 9900 == 38115
    assert moves.cents(EXPANSION) == 7850
    assert moves.cents(CHURNED) == -9900
    assert moves.cents(CONTRACTION) == 0
    # A brought 2900 with it into pro; B took 9900 out.
    assert (moves.transfer_in_cents, moves.transfer_out_cents) == (2900, 9900)
    assert moves.starting_mrr_cents == 0
    assert 0 + moves.net_cents + 2900 - 9900 == moves.ending_mrr_cents == 29065
    # Funnel: every trial, conversions into pro only: B C E within, J after expiry.
    assert (pro.funnel.counts.started, pro.funnel.counts.converted) == (9, 4)
    assert pro.funnel.counts.conversion_rate == Decimal("0.4444")

    starter = compute_report(script.rows, start=START, end=END, plan="starter")
    # B arrives with 9900 and contracts by 7000 under starter; A leaves with 2900.
    sm = starter.movements
    assert (sm.transfer_in_cents, sm.transfer_out_cents) == (9900, 2900)
    assert sm.cents(CONTRACTION) == -7000
    assert sm.starting_mrr_cents + sm.net_cents + 9900 - 2900 == sm.ending_mrr_cents
    # B 2900 + F 2900 + G 2900.
    assert sm.ending_mrr_cents == 8700

    annual = compute_report(script.rows, start=START, end=END, interval="year")
    assert (annual.recurring_mrr_cents, annual.paying_customers) == (9265, 1)
