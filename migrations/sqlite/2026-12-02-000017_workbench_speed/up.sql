-- What the commission's workbench reads at a million cases, kept as it changes instead of
-- computed at each request (see the PostgreSQL migration): queue indexes for one specialty and
-- one region, and a member's own cases per specialty; the number of filed cases per workflow,
-- specialty, state and due date, kept by triggers (one shard: SQLite has one writer at a
-- time; rows that come down to zero removed); every finished step of a filed case.
CREATE INDEX cases_queue_specialty_due ON cases (specialty, due_on, id) WHERE submitted_at IS NOT NULL;
CREATE INDEX cases_queue_region ON cases (region, due_on, id) WHERE submitted_at IS NOT NULL;
CREATE INDEX cases_queue_assignee_specialty ON cases (assignee_id, specialty, due_on, id) WHERE submitted_at IS NOT NULL;

CREATE TABLE case_state_counts (
    workflow_id TEXT NOT NULL,
    specialty TEXT NOT NULL,
    state TEXT NOT NULL,
    -- 9999-12-31 for a case without a due date.
    due_on DATE NOT NULL,
    shard SMALLINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (workflow_id, specialty, state, due_on, shard)
);

CREATE TRIGGER cases_count_insert AFTER INSERT ON cases
WHEN NEW.submitted_at IS NOT NULL
BEGIN
    INSERT INTO case_state_counts (workflow_id, specialty, state, due_on, shard, n)
    VALUES (NEW.workflow_id, coalesce(NEW.specialty, ''), NEW.state,
            coalesce(NEW.due_on, '9999-12-31'), 0, 1)
    ON CONFLICT (workflow_id, specialty, state, due_on, shard) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER cases_count_delete AFTER DELETE ON cases
WHEN OLD.submitted_at IS NOT NULL
BEGIN
    UPDATE case_state_counts SET n = n - 1
    WHERE workflow_id = OLD.workflow_id AND specialty = coalesce(OLD.specialty, '')
      AND state = OLD.state AND due_on = coalesce(OLD.due_on, '9999-12-31') AND shard = 0;
    DELETE FROM case_state_counts
    WHERE workflow_id = OLD.workflow_id AND specialty = coalesce(OLD.specialty, '')
      AND state = OLD.state AND due_on = coalesce(OLD.due_on, '9999-12-31') AND shard = 0
      AND n = 0;
END;

CREATE TRIGGER cases_count_update
AFTER UPDATE OF workflow_id, specialty, state, due_on, submitted_at ON cases
WHEN OLD.workflow_id IS NOT NEW.workflow_id OR OLD.specialty IS NOT NEW.specialty
  OR OLD.state IS NOT NEW.state OR OLD.due_on IS NOT NEW.due_on
  OR (OLD.submitted_at IS NULL) <> (NEW.submitted_at IS NULL)
BEGIN
    UPDATE case_state_counts SET n = n - 1
    WHERE OLD.submitted_at IS NOT NULL
      AND workflow_id = OLD.workflow_id AND specialty = coalesce(OLD.specialty, '')
      AND state = OLD.state AND due_on = coalesce(OLD.due_on, '9999-12-31') AND shard = 0;
    DELETE FROM case_state_counts
    WHERE workflow_id = OLD.workflow_id AND specialty = coalesce(OLD.specialty, '')
      AND state = OLD.state AND due_on = coalesce(OLD.due_on, '9999-12-31') AND shard = 0
      AND n = 0;
    INSERT INTO case_state_counts (workflow_id, specialty, state, due_on, shard, n)
    SELECT NEW.workflow_id, coalesce(NEW.specialty, ''), NEW.state,
           coalesce(NEW.due_on, '9999-12-31'), 0, 1
    WHERE NEW.submitted_at IS NOT NULL
    ON CONFLICT (workflow_id, specialty, state, due_on, shard) DO UPDATE SET n = n + 1;
END;

INSERT INTO case_state_counts (workflow_id, specialty, state, due_on, shard, n)
SELECT workflow_id, coalesce(specialty, ''), state, coalesce(due_on, '9999-12-31'), 0, count(*)
FROM cases WHERE submitted_at IS NOT NULL
GROUP BY 1, 2, 3, 4;

ALTER TABLE cases ADD COLUMN step_transition TEXT;
UPDATE cases SET step_transition = (
    SELECT json_extract(payload, '$.transition') FROM audit_events
    WHERE case_id = cases.id AND kind = 'case.transition'
    ORDER BY seq DESC LIMIT 1);

CREATE TABLE case_steps (
    case_id TEXT NOT NULL REFERENCES cases (id),
    seq BIGINT NOT NULL,
    workflow_id TEXT NOT NULL,
    specialty TEXT,
    state TEXT NOT NULL,
    started_by TEXT,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP NOT NULL,
    working_days BIGINT NOT NULL,
    sla_working_days INTEGER,
    PRIMARY KEY (case_id, seq)
);
