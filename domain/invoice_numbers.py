"""Invoice numbers as invoicing law wants them: one unbroken sequence per legal entity
(per prefix), no number used twice, none skipped. Stripe numbers invoices ``PREFIX-0001``
(the prefix is the account's when numbering is "sequential across the account"), and a
voided invoice keeps its number, so every number ever issued is in the provider's list.

``check_sequence`` reads the numbers the engine mirrors and reports what breaks the rule;
drafts (no number yet) are not counted.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

_NUMBER = re.compile(r"^(?P<prefix>.+)-(?P<sequence>\d+)$")


@dataclass(frozen=True)
class SequenceReport:
    prefix: str
    first: int
    last: int
    count: int
    # Numbers missing between the first and the last; numbers issued more than once.
    gaps: tuple[int, ...]
    duplicates: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return not self.gaps and not self.duplicates


@dataclass(frozen=True)
class NumberingReport:
    sequences: tuple[SequenceReport, ...]
    # Numbers in no ``PREFIX-<digits>`` form (they cannot be checked).
    unparsed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sequences) and not self.unparsed


def parse_number(number: str) -> tuple[str, int] | None:
    match = _NUMBER.match(number.strip())
    if match is None:
        return None
    return match["prefix"], int(match["sequence"])


def check_sequence(numbers: Iterable[str | None], *, start: int = 1) -> NumberingReport:
    """Gaps (from ``start``, the sequence's first number) and duplicates per prefix."""
    by_prefix: dict[str, list[int]] = defaultdict(list)
    unparsed: list[str] = []
    for number in numbers:
        if not number:
            continue
        parsed = parse_number(number)
        if parsed is None:
            unparsed.append(number)
            continue
        by_prefix[parsed[0]].append(parsed[1])
    reports = []
    for prefix in sorted(by_prefix):
        issued = by_prefix[prefix]
        counts = Counter(issued)
        first, last = min(min(issued), start), max(issued)
        gaps = tuple(n for n in range(first, last + 1) if n not in counts)
        duplicates = tuple(sorted(n for n, c in counts.items() if c > 1))
        reports.append(SequenceReport(prefix, first, last, len(issued), gaps, duplicates))
    return NumberingReport(tuple(reports), tuple(sorted(unparsed)))
