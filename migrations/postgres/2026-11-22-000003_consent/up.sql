-- Consent to the transfer of personal data, asked on first login through the identity provider.
CREATE TABLE consents (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    granted BOOLEAN NOT NULL,
    decided_at TIMESTAMP NOT NULL
);
-- A session of a user who has not consented yet reaches no case.
ALTER TABLE sessions ADD COLUMN consent_pending BOOLEAN NOT NULL DEFAULT FALSE;
