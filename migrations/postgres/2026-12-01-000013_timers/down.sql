DROP TABLE timers;
ALTER TABLE cases DROP COLUMN procedure_breached_at;
ALTER TABLE cases DROP COLUMN procedure_due_provisional;
ALTER TABLE cases DROP COLUMN procedure_due_on;
ALTER TABLE cases DROP COLUMN breached_at;
