-- Each pending login is bound to the browser that started it (the SHA-256 of a random value
-- kept in a short-lived HttpOnly cookie) and counted per client address, so that pending
-- logins can be bounded per address.
ALTER TABLE login_attempts ADD COLUMN browser_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE login_attempts ADD COLUMN client TEXT NOT NULL DEFAULT '';
CREATE INDEX login_attempts_client_idx ON login_attempts (client, created_at);
