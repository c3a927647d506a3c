"""The metrics engine on the scripted history of ``history.py``, every figure worked out by
hand below and compared exactly (cents, and rates as 4-place decimals).

Range: [2026-01-01, 2026-05-01), no filter unless stated. MRR per customer (cents):

            Jan 1   Feb 1   Mar 1   Apr 1   May 1
    A        2900    2900    9900    9900    9900   (upgrade 02-10)
    B           0    9900    9900    2900    2900   (downgrade 03-12; past_due 04-12)
    C           0    8415    9265    9265    9265   (2 annual chatbots 02-01: +2 x 425)
    D           0    2900       0       0       0   (dunning lost 02-27)
    E           0    9900    9900       0       0   (canceled 03-22)
    F           0    2900       0    2900    2900   (paused 02-10, resumed 03-10)
    G           0       0    2900    2900    2900   (win-back conversion 02-26)
    J           0       0       0    9900    9900   (converted after expiry 03-08)
    total    2900   36915   41865   37765   37765
    paying      1       6       5       6       6
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from domain.reporting import (
    CSV_COLUMNS,
    Granularity,
    LedgerRow,
    MovementType,
    Report,
    add_months,
    compute_report,
    csv_rows,
    ratio,
    round_half_up,
    windows,
)
from tests.reporting.history import END, LETTERS, START, Script, scripted_history

NEW, EXPANSION, CONTRACTION, CHURNED, REACTIVATED = (
    MovementType.NEW,
    MovementType.EXPANSION,
    MovementType.CONTRACTION,
    MovementType.CHURNED,
    MovementType.REACTIVATED,
)


@pytest.fixture(scope="module")
def script() -> Script:
    return scripted_history({letter: letter for letter in LETTERS})


@pytest.fixture(scope="module")
def report(script: Script) -> Report:
    return compute_report(script.rows, script.invoices, start=START, end=END)


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


def test_arpu_and_ltv(report: Report) -> None:
    # ARPU = 38765 / 6 = 6460.83 -> 6461.
    assert report.arpu_cents == 6461
    # Monthly revenue churn, pooled (see the churn test): 22700 / 119445.
    # LTV = (38765 / 6) / (22700 / 119445) = 38765 * 119445 / 136200
    #     = 4,630,285,425 / 136,200 = 33996.22 -> 33996.
    assert 38765 * 119445 == 4_630_285_425
    assert report.ltv_cents == 33996


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


def test_trial_funnel(report: Report) -> None:
    funnel = report.funnel.counts
    # Trials started in the range: B C D E F (Jan), G H J (Feb), I (Apr) = 9 (A: December).
    assert funnel.started == 9
    # Converted by May 1: B C D E F within the trial, G via win-back (2 sent), J after
    # expiry (none sent yet).
    assert (
        funnel.converted,
        funnel.converted_within_trial,
        funnel.converted_via_winback,
        funnel.converted_after_expiry,
    ) == (7, 5, 1, 1)
    # Expired: G H J; of those only H never converted; I is still trialing.
    assert (funnel.expired, funnel.expired_unconverted, funnel.in_trial) == (3, 1, 1)
    # 7 / 9 = 0.77777... -> 0.7778.
    assert funnel.conversion_rate == Decimal("0.7778")
    # Days to convert: B 7, C 9, D 12, E 12, F 13, G 24, J 16 (Feb 20 -> Mar 8);
    # sorted 7 9 12 12 13 16 24, median 12.
    assert funnel.median_days_to_convert == Decimal("12.00")
    assert report.trial_conversion_rate == Decimal("0.7778")


def test_trial_conversion_by_weekly_cohort(report: Report) -> None:
    cohorts = [
        (
            c.week,
            c.week_start,
            c.counts.started,
            c.counts.converted,
            c.counts.conversion_rate,
            c.counts.median_days_to_convert,
        )
        for c in report.funnel.cohorts
    ]
    # 2026-01-01 is a Thursday: week 2 starts Monday 01-05.
    assert cohorts == [
        # B C D E (01-05 .. 01-10), all converted: days 7 9 12 12, median (9 + 12) / 2.
        ("2026-W02", date(2026, 1, 5), 4, 4, Decimal("1.0000"), Decimal("10.50")),
        # F (01-12).
        ("2026-W03", date(2026, 1, 12), 1, 1, Decimal("1.0000"), Decimal("13.00")),
        # G H (02-02, 02-03): G converted.
        ("2026-W06", date(2026, 2, 2), 2, 1, Decimal("0.5000"), Decimal("24.00")),
        # J (02-20).
        ("2026-W08", date(2026, 2, 16), 1, 1, Decimal("1.0000"), Decimal("16.00")),
        # I (04-25), still trialing.
        ("2026-W17", date(2026, 4, 20), 1, 0, Decimal("0.0000"), None),
    ]


def test_churn_per_month(report: Report) -> None:
    rows = [
        (
            m.month,
            m.paying_customers_at_start,
            m.mrr_at_start_cents,
            m.churned_customers,
            m.churned_mrr_cents,
            m.contraction_mrr_cents,
            m.logo_churn_rate,
            m.revenue_churn_rate,
        )
        for m in report.churn.months
    ]
    assert rows == [
        # Jan: A alone pays at the start; nothing lost.
        ("2026-01", 1, 2900, 0, 0, 0, Decimal("0.0000"), Decimal("0.0000")),
        # Feb: A B C D E F pay (36915); F pauses, D is lost to dunning: 2 / 6 = 0.3333;
        # 5800 / 36915 = 0.15712 -> 0.1571.
        ("2026-02", 6, 36915, 2, 5800, 0, Decimal("0.3333"), Decimal("0.1571")),
        # Mar: A B C E G pay (9900 + 9900 + 9265 + 9900 + 2900 = 41865); E cancels (9900),
        # B contracts (7000): 1 / 5 = 0.2; 16900 / 41865 = 0.40368 -> 0.4037.
        ("2026-03", 5, 41865, 1, 9900, 7000, Decimal("0.2000"), Decimal("0.4037")),
        # Apr: A B C F G J pay (37765); nothing lost.
        ("2026-04", 6, 37765, 0, 0, 0, Decimal("0.0000"), Decimal("0.0000")),
    ]
    assert [m.partial for m in report.churn.months] == [False] * 4
    feb, mar = report.churn.months[1], report.churn.months[2]
    # Feb: F's pause is voluntary, D's dunning loss involuntary.
    assert (
        feb.voluntary_churned_customers,
        feb.voluntary_churned_mrr_cents,
        feb.involuntary_churned_customers,
        feb.involuntary_churned_mrr_cents,
    ) == (1, 2900, 1, 2900)
    assert (mar.voluntary_churned_customers, mar.voluntary_churned_mrr_cents) == (1, 9900)
    assert (mar.involuntary_churned_customers, mar.involuntary_churned_mrr_cents) == (0, 0)
    # Dunning: Feb: D and E fail; E recovers, D is exhausted: 1 / 2. Apr: B fails, still
    # in dunning at the end: no episode ended, no rate.
    assert [
        (m.dunning_started, m.dunning_recovered, m.dunning_exhausted, m.dunning_recovery_rate)
        for m in report.churn.months
    ] == [
        (0, 0, 0, None),
        (2, 1, 1, Decimal("0.5000")),
        (0, 0, 0, None),
        (1, 0, 0, None),
    ]


def test_churn_over_the_range_pools_the_months(report: Report) -> None:
    churn = report.churn
    # Logo: (0 + 2 + 1 + 0) / (1 + 6 + 5 + 6) = 3 / 18 = 0.16666 -> 0.1667.
    assert churn.logo_churn_rate == Decimal("0.1667") == report.logo_churn_rate
    # Revenue: (5800 + 16900) / (2900 + 36915 + 41865 + 37765) = 22700 / 119445
    # = 0.190045 -> 0.1900.
    assert 2900 + 36915 + 41865 + 37765 == 119445
    assert churn.revenue_churn_rate == Decimal("0.1900") == report.revenue_churn_rate
    assert (churn.churned_customers, churn.churned_mrr_cents, churn.contraction_mrr_cents) == (
        3,
        15700,
        7000,
    )
    assert (churn.voluntary_churned_customers, churn.voluntary_churned_mrr_cents) == (2, 12800)
    assert (churn.involuntary_churned_customers, churn.involuntary_churned_mrr_cents) == (1, 2900)
    # Dunning recovery: 1 recovered / (1 + 1 exhausted).
    assert (churn.dunning_started, churn.dunning_recovered, churn.dunning_exhausted) == (3, 1, 1)
    assert churn.dunning_recovery_rate == Decimal("0.5000")


def test_revenue_cohorts_from_paid_invoices(report: Report) -> None:
    cohorts = {c.month: c for c in report.cohorts}
    # First revenue in Jan: B C D E F; Feb: G; Mar: J. A's was in December: no cohort.
    assert [(c.month, c.customers) for c in report.cohorts] == [
        ("2026-01", 5),
        ("2026-02", 1),
        ("2026-03", 1),
    ]
    january = cohorts["2026-01"]
    # Paid, less refunds, cumulated:
    #   Jan: B 9900 - 2000 refunded, C 100980, D 2900, E 9900, F 2900      = 124580
    #   Feb: + B 9900, C 9350, E 9900 (paid 02-24 after a retry)           = 153730
    #   Mar: + B 2900, F 2900                                              = 159530
    #   Apr: + F 2900 (B's April invoice is unpaid)                        = 162430
    # Retained (MRR > 0 at month end): 5; then B C E (D lost, F paused); then B C F
    # (E canceled, F back); then B C F.
    assert [
        (
            m.offset,
            m.month,
            m.retained_customers,
            m.cumulative_revenue_cents,
            m.cumulative_revenue_per_customer_cents,
        )
        for m in january.months
    ] == [
        (0, "2026-01", 5, 124580, 24916),
        (1, "2026-02", 3, 153730, 30746),
        (2, "2026-03", 3, 159530, 31906),
        (3, "2026-04", 3, 162430, 32486),
    ]
    assert (january.revenue_cents, january.revenue_per_customer_cents) == (162430, 32486)
    # G: 2320 (win-back coupon), 2900, 2900.
    assert [m.cumulative_revenue_cents for m in cohorts["2026-02"].months] == [2320, 5220, 8120]
    # J: 9900, 9900.
    assert [m.cumulative_revenue_cents for m in cohorts["2026-03"].months] == [9900, 19800]


def test_lifecycle_counts_per_month(report: Report) -> None:
    points = [(p.period, p.at, dict(p.counts), p.total) for p in report.lifecycle]
    counts = ("trialing", "trial_expired", "active", "past_due", "paused", "canceled")

    def c(*values: int) -> dict[str, int]:
        return dict(zip(counts, values, strict=True))

    assert points == [
        # Feb 1: A B C D E F active.
        ("2026-01", datetime(2026, 2, 1, tzinfo=UTC), c(0, 0, 6, 0, 0, 0), 6),
        # Mar 1: J trialing; H expired; A B C E G active; F paused; D canceled.
        ("2026-02", datetime(2026, 3, 1, tzinfo=UTC), c(1, 1, 5, 0, 1, 1), 9),
        # Apr 1: H expired; A B C F G J active; D E canceled.
        ("2026-03", datetime(2026, 4, 1, tzinfo=UTC), c(0, 1, 6, 0, 0, 2), 9),
        # May 1: I trialing; H expired; A C F G J active; B past due; D E canceled.
        ("2026-04", datetime(2026, 5, 1, tzinfo=UTC), c(1, 1, 5, 1, 0, 2), 10),
    ]


def test_lifecycle_by_week_and_day(script: Script) -> None:
    # Feb 9 .. Feb 18, by week: the week of Feb 9 (full) and of Feb 16 (cut at Feb 18).
    weekly = compute_report(
        script.rows,
        start=datetime(2026, 2, 9, tzinfo=UTC),
        end=datetime(2026, 2, 18, tzinfo=UTC),
        granularity=Granularity.WEEK,
    )
    assert [(p.period, p.at) for p in weekly.lifecycle] == [
        ("2026-W07", datetime(2026, 2, 16, tzinfo=UTC)),
        ("2026-W08", datetime(2026, 2, 18, tzinfo=UTC)),
    ]
    # Feb 16: F paused (02-10); G H trialing; A B C D E active.
    assert weekly.lifecycle[0].counts["paused"] == 1
    assert weekly.lifecycle[0].counts["trialing"] == 2
    # Feb 18: G (02-16) and H (02-17) have expired.
    assert weekly.lifecycle[1].counts["trial_expired"] == 2
    daily = compute_report(
        script.rows,
        start=datetime(2026, 2, 16, tzinfo=UTC),
        end=datetime(2026, 2, 18, tzinfo=UTC),
        granularity=Granularity.DAY,
    )
    assert [
        (p.period, p.counts["trialing"], p.counts["trial_expired"]) for p in daily.lifecycle
    ] == [
        ("2026-02-16", 1, 1),
        ("2026-02-17", 0, 2),
    ]


def test_payments_refunds_and_invoices(report: Report) -> None:
    # Paid in the range: A 2900 + 4750 + 9900 + 9900 + 1000 = 28450; B 9900 + 9900 + 2900;
    # C 100980 + 9350; D 2900; E 9900 + 9900; F 2900 x 3; G 2320 + 2900 + 2900;
    # J 9900 x 2. 21 payments.
    total = 28450 + 22700 + 110330 + 2900 + 19800 + 8700 + 8120 + 19800
    assert total == 220800
    assert (report.revenue.payments, report.revenue.payments_cents) == (21, 220800)
    assert (report.revenue.refunds, report.revenue.refunds_cents) == (1, 2000)
    assert report.revenue.net_revenue_cents == 218800
    # Invoices created in the range: all but A's December one (24 - 1), paid or not.
    assert len(report.invoices) == 23
    assert {i.status for i in report.invoices} == {"paid", "open", "uncollectible"}
    refund = report.refunds[0]
    assert (refund.customer_id, refund.invoice_id, refund.amount_refunded_cents) == (
        "B",
        "in_B_1",
        2000,
    )


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


def test_range_start_mid_month_clips_the_first_month(script: Script) -> None:
    report = compute_report(
        script.rows, script.invoices, start=datetime(2026, 2, 15, tzinfo=UTC), end=END
    )
    first = report.churn.months[0]
    assert (first.month, first.partial, first.window_start) == (
        "2026-02",
        True,
        datetime(2026, 2, 15, tzinfo=UTC),
    )
    # Paying at Feb 15: A B C D E (F paused 02-10): 9900 + 9900 + 9265 + 2900 + 9900.
    assert (first.paying_customers_at_start, first.mrr_at_start_cents) == (5, 41865)
    # Movements from Feb 15: G new, D churned, then March and April as before.
    assert report.movements.cents(NEW) == 2900 + 9900
    assert report.movements.starting_mrr_cents == 41865


def test_refunds_are_increments_of_the_cumulative_amount() -> None:
    def refund(day: int, cumulative: int, key: int) -> LedgerRow:
        return LedgerRow(
            customer_id="X",
            kind="charge_refunded",
            occurred_at=datetime(2026, 3, day, tzinfo=UTC),
            data={"charge_id": "ch_1", "amount_refunded_cents": cumulative},
            id=key,
        )

    report = compute_report(
        [refund(1, 500, 1), refund(2, 1200, 2), refund(3, 1200, 3)],
        start=datetime(2026, 3, 2, tzinfo=UTC),
        end=datetime(2026, 4, 1, tzinfo=UTC),
    )
    # 500 before the range; then +700; then a redelivery of the same total: +0.
    assert [r.amount_refunded_cents for r in report.refunds] == [700, 0]
    assert report.revenue.refunds_cents == 700


def test_empty_history_has_no_rates() -> None:
    report = compute_report([], start=START, end=END)
    assert (report.mrr_cents, report.arpu_cents, report.ltv_cents) == (0, None, None)
    assert report.trial_conversion_rate is None
    assert report.logo_churn_rate is None and report.revenue_churn_rate is None
    assert [p.mrr_cents for p in report.mrr_series] == [0, 0, 0, 0]


def test_rounding_and_calendar_helpers() -> None:
    assert ratio(1, 3) == Decimal("0.3333")
    assert ratio(2, 3) == Decimal("0.6667")
    assert ratio(1, 8) == Decimal("0.1250")  # exact, no float error
    assert ratio(1, 20000) == Decimal("0.0001")  # half up
    assert ratio(1, 0) is None
    assert round_half_up(Fraction(5, 2)) == 3 and round_half_up(Fraction(-5, 2)) == -3
    assert add_months(datetime(2026, 3, 31, 9, tzinfo=UTC), -1) == datetime(
        2026, 2, 28, 9, tzinfo=UTC
    )
    assert add_months(datetime(2026, 1, 15, tzinfo=UTC), 12) == datetime(2027, 1, 15, tzinfo=UTC)
    assert add_months(datetime(2026, 12, 1, tzinfo=UTC), 1) == datetime(2027, 1, 1, tzinfo=UTC)
    cut = windows(
        datetime(2026, 1, 20, tzinfo=UTC),
        datetime(2026, 3, 1, 6, tzinfo=UTC),
        Granularity.MONTH,
    )
    assert [(w.label, w.partial) for w in cut] == [
        ("2026-01", True),
        ("2026-02", False),
        ("2026-03", True),
    ]
    assert cut[-1].end - cut[-1].start == timedelta(hours=6)


def test_every_csv_table_has_rows_in_its_column_order(report: Report) -> None:
    for name, columns in CSV_COLUMNS.items():
        rows = csv_rows(report, name)
        assert rows, name
        assert {len(row) for row in rows} == {len(columns)}, name
    movements = csv_rows(report, "mrr_movements")
    assert movements[0][1:9] == ["B", "new", "trial_converted", "pro", "month", 0, 9900, 9900]
    churn = dict(zip(CSV_COLUMNS["churn"], csv_rows(report, "churn")[1], strict=True))
    assert churn["logo_churn_rate"] == Decimal("0.3333")
    with pytest.raises(KeyError):
        csv_rows(report, "nope")
