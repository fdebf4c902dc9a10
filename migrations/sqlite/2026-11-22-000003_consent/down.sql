ALTER TABLE sessions DROP COLUMN consent_pending;
DROP TABLE consents;
