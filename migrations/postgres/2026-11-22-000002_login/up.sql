-- Pending logins through the identity provider: state, nonce and PKCE verifier are kept
-- server-side, expire after 10 minutes and can be used once.
CREATE TABLE login_attempts (
    state TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX login_attempts_created_idx ON login_attempts (created_at);
