"""Check-and-consume in two statements per call instead of five (PostgreSQL only).

``usage_consume`` (migration 0010) decides every call of a batch in arrival order, each on
the latest counter row under its lock, and ran every step's statement per call: read the
counter, look the key up, insert the event, update the counter, add to the day's total,
insert the crossings. A flush of 32 callers on one customer was mostly this function's
time (3.2-3.9 ms for 14 calls on this machine's 2 cores, 5.3-6.7 ms for 32). Now, with the
same answers and the same rows (a test runs both on twin customers, batch by batch):

- the counter's total and the key's lookup are one statement;
- a run of calls on one counter and day (the API sends them counter by counter) locks
  the row once (``SELECT ... FOR UPDATE``: the latest row, as the update's re-check was),
  keeps the total in a variable and writes the row and the day's total once when the run
  ends. Locks are still taken event, counter, day, crossings;
- the 80 % / 100 % crossings insert runs only for a call that crosses a threshold (tested
  first with plain expressions), not after every consume of a limited metric.

Measured from the API's side: 1.9-3.0 ms for 14 calls, 4.1-5.4 ms for 32.

Revision ID: 0025
Revises: 0024
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CREATE = r"""
CREATE OR REPLACE FUNCTION usage_consume(
    p_customer varchar[], p_metric varchar[], p_quantity bigint[], p_key varchar[],
    p_at timestamptz[], p_period_start timestamptz[], p_period_end timestamptz[],
    p_ceiling bigint[], p_grace bigint[], p_crossing_limit bigint[],
    p_notice_start timestamptz[], p_thresholds int[])
RETURNS TABLE (used bigint, recorded boolean, seen bigint, crossed int[])
LANGUAGE plpgsql AS $$
DECLARE
    calls int := coalesce(array_length(p_key, 1), 0);
    i int;
    raised bigint;
    known boolean;
    crossing boolean;
    step int;
    locked boolean;
    -- The run of calls on one counter and one day (the API sends calls counter by
    -- counter): the counter locked for the statement's duration, its total so far, the
    -- day's added quantity, and whether there is anything to write.
    held_customer varchar;
    held_metric varchar;
    held_start timestamptz;
    held_day date;
    held_used bigint;
    held_graced boolean;
    held_grace_at timestamptz;
    held_at timestamptz;
    held_dirty boolean := false;
    held_quantity bigint := 0;
BEGIN
    -- One round past the last call (whose arguments are all NULL) writes the last run.
    FOR i IN 1 .. calls + 1 LOOP
        IF held_customer IS NOT NULL AND (
               held_customer IS DISTINCT FROM p_customer[i]
               OR held_metric IS DISTINCT FROM p_metric[i]
               OR held_start IS DISTINCT FROM p_period_start[i]
               OR held_day IS DISTINCT FROM (p_at[i] AT TIME ZONE 'UTC')::date) THEN
            IF held_dirty THEN
                UPDATE usage_counters u
                   SET used = held_used, updated_at = held_at,
                       grace_reached_at = COALESCE(u.grace_reached_at, held_grace_at)
                 WHERE u.customer_id = held_customer AND u.metric = held_metric
                   AND u.period_start = held_start;
            END IF;
            -- The day after its counter, as each call took them before.
            IF held_quantity <> 0 THEN
                INSERT INTO usage_daily AS d (customer_id, metric, day, quantity)
                VALUES (held_customer, held_metric, held_day, held_quantity)
                ON CONFLICT (customer_id, metric, day) DO UPDATE
                    SET quantity = d.quantity + excluded.quantity;
            END IF;
            held_customer := NULL;
            held_dirty := false;
            held_quantity := 0;
        END IF;
        EXIT WHEN i > calls;
        used := NULL;
        recorded := false;
        crossed := '{}';
        SELECT coalesce((SELECT c.used FROM usage_counters c
                          WHERE c.customer_id = p_customer[i] AND c.metric = p_metric[i]
                            AND c.period_start = p_period_start[i]), 0),
               EXISTS (SELECT 1 FROM usage_events e
                        WHERE e.customer_id = p_customer[i] AND e.idempotency_key = p_key[i])
          INTO seen, known;
        IF held_customer IS NOT NULL THEN
            seen := held_used;
        END IF;
        IF known THEN
            recorded := true;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF p_ceiling[i] IS NOT NULL AND seen + p_quantity[i] > p_ceiling[i] THEN
            RETURN NEXT;
            CONTINUE;
        END IF;
        INSERT INTO usage_events (customer_id, metric, quantity, idempotency_key,
                                  occurred_at, period_start, recorded_at)
        VALUES (p_customer[i], p_metric[i], p_quantity[i], p_key[i], p_at[i],
                p_period_start[i], p_at[i])
        ON CONFLICT (customer_id, idempotency_key) DO NOTHING;
        IF NOT FOUND THEN
            recorded := true;
            IF held_customer IS NULL THEN
                SELECT c.used INTO seen FROM usage_counters c
                 WHERE c.customer_id = p_customer[i] AND c.metric = p_metric[i]
                   AND c.period_start = p_period_start[i];
                seen := coalesce(seen, 0);
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;
        raised := NULL;
        IF held_customer IS NULL THEN
            -- The counter's latest row, locked until the statement ends (the update's
            -- re-check on the latest row did the same); created with this call's quantity
            -- when there is none yet and the call fits its ceiling.
            locked := false;
            LOOP
                SELECT c.used, c.grace_reached_at IS NOT NULL INTO held_used, held_graced
                  FROM usage_counters c
                 WHERE c.customer_id = p_customer[i] AND c.metric = p_metric[i]
                   AND c.period_start = p_period_start[i]
                   FOR UPDATE;
                locked := FOUND;
                EXIT WHEN locked;
                seen := 0;
                EXIT WHEN p_ceiling[i] IS NOT NULL AND p_quantity[i] > p_ceiling[i];
                INSERT INTO usage_counters AS u (customer_id, metric, period_start, period_end,
                                                 used, updated_at, grace_reached_at)
                VALUES (p_customer[i], p_metric[i], p_period_start[i], p_period_end[i],
                        p_quantity[i], p_at[i],
                        CASE WHEN p_quantity[i] >= p_grace[i] THEN p_at[i] END)
                ON CONFLICT (customer_id, metric, period_start) DO NOTHING
                RETURNING u.used INTO raised;
                IF FOUND THEN
                    held_used := raised;
                    held_graced := coalesce(p_quantity[i] >= p_grace[i], false);
                    locked := true;
                    EXIT;
                END IF;
                -- Created concurrently: decide on that row.
            END LOOP;
            IF locked THEN
                held_customer := p_customer[i];
                held_metric := p_metric[i];
                held_start := p_period_start[i];
                held_day := (p_at[i] AT TIME ZONE 'UTC')::date;
                held_grace_at := NULL;
            END IF;
        END IF;
        IF raised IS NULL AND held_customer IS NOT NULL
           AND (p_ceiling[i] IS NULL OR held_used + p_quantity[i] <= p_ceiling[i]) THEN
            held_used := held_used + p_quantity[i];
            held_at := p_at[i];
            held_dirty := true;
            IF NOT held_graced AND held_used >= p_grace[i] THEN
                held_graced := true;
                held_grace_at := p_at[i];
            END IF;
            raised := held_used;
        END IF;
        IF raised IS NULL THEN
            -- Refused on the latest row: the event just inserted goes (nobody saw it).
            IF held_customer IS NOT NULL THEN
                seen := held_used;
            END IF;
            DELETE FROM usage_events e
             WHERE e.customer_id = p_customer[i] AND e.idempotency_key = p_key[i];
            RETURN NEXT;
            CONTINUE;
        END IF;
        used := raised;
        seen := raised;
        held_quantity := held_quantity + p_quantity[i];
        crossing := false;
        IF p_crossing_limit[i] IS NOT NULL THEN
            FOREACH step IN ARRAY p_thresholds LOOP
                crossing := crossing OR (
                    (raised - p_quantity[i]) * 100 < p_crossing_limit[i] * step
                    AND p_crossing_limit[i] * step <= raised * 100);
            END LOOP;
        END IF;
        IF crossing THEN
            WITH inserted AS (
                INSERT INTO usage_threshold_crossings (customer_id, metric, period_start,
                                                       threshold, used, "limit", crossed_at)
                SELECT p_customer[i], p_metric[i], p_notice_start[i], th.threshold, raised,
                       p_crossing_limit[i], p_at[i]
                FROM unnest(p_thresholds) AS th(threshold)
                WHERE (raised - p_quantity[i]) * 100 < p_crossing_limit[i] * th.threshold
                  AND p_crossing_limit[i] * th.threshold <= raised * 100
                ORDER BY th.threshold
                ON CONFLICT (customer_id, metric, period_start, threshold) DO NOTHING
                RETURNING threshold
            )
            SELECT coalesce(array_agg(inserted.threshold ORDER BY inserted.threshold), '{}')
              INTO crossed FROM inserted;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_previous_definition())


def _previous_definition() -> str:
    """Migration 0010's definition (a revision file is not an importable module)."""
    path = Path(__file__).with_name("0010_usage_consume_function.py")
    spec = importlib.util.spec_from_file_location("usage_consume_0010", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.CREATE)
