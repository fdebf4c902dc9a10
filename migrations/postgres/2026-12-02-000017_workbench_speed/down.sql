DROP TABLE case_steps;
ALTER TABLE cases DROP COLUMN step_transition;
DROP TRIGGER cases_count_states ON cases;
DROP FUNCTION cases_count_states();
DROP FUNCTION case_state_counts_add(TEXT, TEXT, TEXT, DATE, SMALLINT, BIGINT);
DROP TABLE case_state_counts;
DROP INDEX cases_queue_assignee_specialty;
DROP INDEX cases_queue_region;
DROP INDEX cases_queue_specialty_due;
