"""Check-and-consume of many calls in one statement (PostgreSQL only).

``usage_consume`` takes the calls of a batch as arrays and decides them one after another,
in array order, each on the latest counter row under its lock: the API process sends the
calls that arrived while its previous statement was in flight as one batch, so 32 callers
on one customer cost a few statements instead of 32 (see ``db.usage.consume``).

Per call, in the module's lock order (event, counter, day, crossings):

1. a key recorded before answers ``recorded`` (a duplicate) with the counter's total;
2. a call the latest committed total already refuses writes nothing;
3. the event is inserted (``ON CONFLICT DO NOTHING``: a twin in flight elsewhere makes it
   wait, then answer ``recorded``);
4. the counter is raised only if the total stays within the ceiling (NULL: no limit),
   evaluated on the latest row version under its lock (a missing row is created); the
   grace mark is set when the total first reaches the grace limit;
5. refused: the event just inserted is deleted (in this transaction, so nobody saw it);
6. consumed: the day's total is raised and the 80 % / 100 % crossings inserted; the ones
   this call inserted are answered (whoever inserts a crossing signals it).

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
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
    i int;
    raised bigint;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_key, 1), 0) LOOP
        used := NULL;
        recorded := false;
        crossed := '{}';
        SELECT c.used INTO seen FROM usage_counters c
         WHERE c.customer_id = p_customer[i] AND c.metric = p_metric[i]
           AND c.period_start = p_period_start[i];
        seen := coalesce(seen, 0);
        IF EXISTS (SELECT 1 FROM usage_events e
                    WHERE e.customer_id = p_customer[i] AND e.idempotency_key = p_key[i]) THEN
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
            SELECT c.used INTO seen FROM usage_counters c
             WHERE c.customer_id = p_customer[i] AND c.metric = p_metric[i]
               AND c.period_start = p_period_start[i];
            seen := coalesce(seen, 0);
            RETURN NEXT;
            CONTINUE;
        END IF;
        raised := NULL;
        LOOP
            UPDATE usage_counters u
               SET used = u.used + p_quantity[i], updated_at = p_at[i],
                   grace_reached_at = COALESCE(
                       u.grace_reached_at,
                       CASE WHEN u.used + p_quantity[i] >= p_grace[i] THEN p_at[i] END)
             WHERE u.customer_id = p_customer[i] AND u.metric = p_metric[i]
               AND u.period_start = p_period_start[i]
               AND (p_ceiling[i] IS NULL OR u.used + p_quantity[i] <= p_ceiling[i])
            RETURNING u.used INTO raised;
            EXIT WHEN FOUND;
            SELECT c.used INTO seen FROM usage_counters c
             WHERE c.customer_id = p_customer[i] AND c.metric = p_metric[i]
               AND c.period_start = p_period_start[i];
            EXIT WHEN FOUND;  -- refused on the latest row
            seen := 0;
            EXIT WHEN p_ceiling[i] IS NOT NULL AND p_quantity[i] > p_ceiling[i];
            INSERT INTO usage_counters AS u (customer_id, metric, period_start, period_end,
                                             used, updated_at, grace_reached_at)
            VALUES (p_customer[i], p_metric[i], p_period_start[i], p_period_end[i],
                    p_quantity[i], p_at[i],
                    CASE WHEN p_quantity[i] >= p_grace[i] THEN p_at[i] END)
            ON CONFLICT (customer_id, metric, period_start) DO NOTHING
            RETURNING u.used INTO raised;
            EXIT WHEN FOUND;
            -- Created concurrently: decide on that row.
        END LOOP;
        IF raised IS NULL THEN
            DELETE FROM usage_events e
             WHERE e.customer_id = p_customer[i] AND e.idempotency_key = p_key[i];
            RETURN NEXT;
            CONTINUE;
        END IF;
        used := raised;
        seen := raised;
        INSERT INTO usage_daily AS d (customer_id, metric, day, quantity)
        VALUES (p_customer[i], p_metric[i], (p_at[i] AT TIME ZONE 'UTC')::date, p_quantity[i])
        ON CONFLICT (customer_id, metric, day) DO UPDATE
            SET quantity = d.quantity + excluded.quantity;
        IF p_crossing_limit[i] IS NOT NULL THEN
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

DROP = """
DROP FUNCTION IF EXISTS usage_consume(varchar[], varchar[], bigint[], varchar[],
    timestamptz[], timestamptz[], timestamptz[], bigint[], bigint[], bigint[],
    timestamptz[], int[])
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP)
