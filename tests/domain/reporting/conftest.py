"""The metrics engine on the scripted history of ``tests/factories/reporting.py``, every
figure worked out by hand below and compared exactly (cents, and rates as 4-place decimals).

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

import pytest

from domain.reporting.report import Report, compute_report
from tests.factories.reporting import END, LETTERS, START, Script, scripted_history


@pytest.fixture(scope="module")
def script() -> Script:
    return scripted_history({letter: letter for letter in LETTERS})


@pytest.fixture(scope="module")
def report(script: Script) -> Report:
    return compute_report(script.rows, script.invoices, start=START, end=END)
