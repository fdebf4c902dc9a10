-- The current step of a case: when it started (for a submission, its registration moment)
-- and, when the state has a deadline, the Moscow date it is due and whether that date rests
-- on provisional calendar days.
ALTER TABLE cases ADD COLUMN step_started_at TIMESTAMP;
ALTER TABLE cases ADD COLUMN due_on DATE;
ALTER TABLE cases ADD COLUMN due_provisional BOOLEAN NOT NULL DEFAULT FALSE;
