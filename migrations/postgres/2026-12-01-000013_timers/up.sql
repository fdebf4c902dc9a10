-- A breached deadline is flagged on the case: the current step's (cleared when the next step
-- starts) and the whole procedure's, which is due so many working days after the first
-- registration.
ALTER TABLE cases ADD COLUMN breached_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN procedure_due_on DATE;
ALTER TABLE cases ADD COLUMN procedure_due_provisional BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN procedure_breached_at TIMESTAMP;

-- Durable timers, written in the commit of the transition that starts them. A timer is
-- pending until it fires (once: the firing is a conditional update in the transaction of its
-- effect), is cancelled by the transition that leaves its step, or is found stale. `scope` is
-- `step` or `procedure`; `action` is `transition` (run `transition` with `reason` as the
-- system) or `escalate` (flag the breach). A worker claims due timers by writing its lease
-- (on PostgreSQL choosing them with FOR UPDATE SKIP LOCKED); a firing that fails is retried
-- after a backoff kept in `lease_until` (`attempts`, `last_error`) and given up after a few.
CREATE TABLE timers (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    scope TEXT NOT NULL,
    action TEXT NOT NULL,
    transition TEXT,
    reason TEXT,
    state TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    fired_at TIMESTAMP,
    lateness_ms BIGINT,
    outcome TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX timers_pending_due ON timers (due_at) WHERE status = 'pending';
CREATE INDEX timers_pending_case ON timers (case_id) WHERE status = 'pending';
