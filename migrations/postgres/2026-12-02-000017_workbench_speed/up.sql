-- What the commission's workbench reads at a million cases, kept as it changes instead of
-- computed at each request:
-- 1. queue indexes that give the due order for one specialty and for one region (a member's
--    scope is read one specialty at a time and merged);
-- 2. the number of filed cases per workflow, specialty, state and due date, kept by a trigger
--    in the transaction that changes the case, in 16 shards by case id so concurrent
--    transitions of one state rarely wait for the same counter row (the counts per state and
--    the overdue ones are sums over it; a row that comes down to zero is removed, so the
--    table holds no more rows than there are open combinations);
-- 3. every finished step of a filed case with its length in working days and its norm, written
--    in the commit of the transition that ends it (the calendar lives in the application), and
--    the transition that started the current step, on the case row.
CREATE INDEX cases_queue_specialty_due ON cases (specialty, due_on, id) WHERE submitted_at IS NOT NULL;
CREATE INDEX cases_queue_region ON cases (region, due_on, id) WHERE submitted_at IS NOT NULL;
-- A member's own cases, one specialty of the scope at a time, in due order.
CREATE INDEX cases_queue_assignee_specialty ON cases (assignee_id, specialty, due_on, id) WHERE submitted_at IS NOT NULL;

CREATE TABLE case_state_counts (
    workflow_id TEXT NOT NULL,
    -- '' for a case without a specialty.
    specialty TEXT NOT NULL,
    state TEXT NOT NULL,
    -- 9999-12-31 for a case without a due date (a key column cannot be NULL); no real date
    -- is after it, so "due on or before" never counts those.
    due_on DATE NOT NULL,
    shard SMALLINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, specialty, state, due_on, shard)
);

CREATE FUNCTION case_state_counts_add(w TEXT, s TEXT, st TEXT, du DATE, sh SMALLINT, d BIGINT)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO case_state_counts (workflow_id, specialty, state, due_on, shard, n)
    VALUES (w, s, st, du, sh, d)
    ON CONFLICT (workflow_id, specialty, state, due_on, shard)
    DO UPDATE SET n = case_state_counts.n + EXCLUDED.n;
    DELETE FROM case_state_counts
    WHERE workflow_id = w AND specialty = s AND state = st AND due_on = du AND shard = sh
      AND n = 0;
$$;

CREATE FUNCTION cases_count_states() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_key TEXT[];
    new_key TEXT[];
    shard SMALLINT;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.submitted_at IS NOT NULL THEN
        old_key := ARRAY[OLD.workflow_id, coalesce(OLD.specialty, ''), OLD.state,
                         coalesce(OLD.due_on, DATE '9999-12-31')::text];
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.submitted_at IS NOT NULL THEN
        new_key := ARRAY[NEW.workflow_id, coalesce(NEW.specialty, ''), NEW.state,
                         coalesce(NEW.due_on, DATE '9999-12-31')::text];
    END IF;
    IF old_key IS NOT DISTINCT FROM new_key THEN
        RETURN NULL;
    END IF;
    -- A case's id never changes, nor therefore its shard.
    shard := hashtext(CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END) & 15;
    -- Both rows in key order, so two transactions moving cases A→B and B→A cannot deadlock.
    IF new_key IS NULL OR (old_key IS NOT NULL AND old_key < new_key) THEN
        IF old_key IS NOT NULL THEN
            PERFORM case_state_counts_add(old_key[1], old_key[2], old_key[3], old_key[4]::date, shard, -1);
        END IF;
        IF new_key IS NOT NULL THEN
            PERFORM case_state_counts_add(new_key[1], new_key[2], new_key[3], new_key[4]::date, shard, 1);
        END IF;
    ELSE
        PERFORM case_state_counts_add(new_key[1], new_key[2], new_key[3], new_key[4]::date, shard, 1);
        IF old_key IS NOT NULL THEN
            PERFORM case_state_counts_add(old_key[1], old_key[2], old_key[3], old_key[4]::date, shard, -1);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER cases_count_states
    AFTER INSERT OR DELETE OR UPDATE OF workflow_id, specialty, state, due_on, submitted_at ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_count_states();

INSERT INTO case_state_counts (workflow_id, specialty, state, due_on, shard, n)
SELECT workflow_id, coalesce(specialty, ''), state, coalesce(due_on, DATE '9999-12-31'),
       hashtext(id) & 15, count(*)
FROM cases WHERE submitted_at IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;

ALTER TABLE cases ADD COLUMN step_transition TEXT;
UPDATE cases SET step_transition = (
    SELECT payload::json ->> 'transition' FROM audit_events
    WHERE case_id = cases.id AND kind = 'case.transition'
    ORDER BY seq DESC LIMIT 1);

CREATE TABLE case_steps (
    case_id TEXT NOT NULL REFERENCES cases (id),
    -- The audit sequence number of the transition that ended the step.
    seq BIGINT NOT NULL,
    workflow_id TEXT NOT NULL,
    specialty TEXT,
    state TEXT NOT NULL,
    -- The transition that started the step (none for the first).
    started_by TEXT,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP NOT NULL,
    working_days BIGINT NOT NULL,
    sla_working_days INTEGER,
    PRIMARY KEY (case_id, seq)
);
