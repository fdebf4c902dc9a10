DROP TABLE audit_checkpoints;
DROP TABLE audit_events;
DROP TABLE idempotency_keys;
DROP TABLE cases;
DROP TABLE workflow_definitions;
DROP TABLE sessions;
DROP TABLE user_roles;
DROP TABLE users;
