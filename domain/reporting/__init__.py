"""Revenue and lifecycle metrics computed from the ledger: MRR and ARR, MRR movements, the
trial funnel, churn, ARPU, LTV, revenue cohorts and status counts over time.

Pure: no I/O. ``db/reporting.py`` loads the rows, ``report.compute_report`` does the rest.

* ``report``: ``compute_report`` and the ``Report`` it returns, with ARPU and LTV.
* ``mrr``: MRR, ARR, overage, the monthly series and the MRR movements.
* ``funnel``: the trial funnel and its weekly cohorts.
* ``churn``: logo and revenue churn, voluntary or not, and dunning recovery, per month.
* ``revenue``: invoices, payments, refunds and net revenue.
* ``cohorts``: revenue cohorts by month of first revenue.
* ``statuses``: customers per status over time.
* ``csv_export``: the CSV tables.
* ``constant_rates`` and ``net_of_tax``: the inputs in one currency at constant rates and
  net of tax (every figure excludes the tax collected); ``currencies``: each figure at its
  own date's rate.
* Shared: ``ledger`` (input rows, the replayed history, movements, the ``Scope`` a report
  is computed over), ``periods`` (calendar buckets), ``rates`` (rounding of rates).

Each module's docstring holds the definitions of its figures. The API documentation
(``api/reports/routes.py``) repeats them; keep both in step.
"""
