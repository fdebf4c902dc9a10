DROP TABLE case_steps;
ALTER TABLE cases DROP COLUMN step_transition;
DROP TRIGGER cases_count_update;
DROP TRIGGER cases_count_delete;
DROP TRIGGER cases_count_insert;
DROP TABLE case_state_counts;
DROP INDEX cases_queue_assignee_specialty;
DROP INDEX cases_queue_region;
DROP INDEX cases_queue_specialty_due;
