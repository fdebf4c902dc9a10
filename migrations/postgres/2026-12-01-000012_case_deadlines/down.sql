ALTER TABLE cases DROP COLUMN due_provisional;
ALTER TABLE cases DROP COLUMN due_on;
ALTER TABLE cases DROP COLUMN step_started_at;
