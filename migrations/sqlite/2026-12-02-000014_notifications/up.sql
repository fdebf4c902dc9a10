-- The outbox: one row per recipient and channel, written in the commit of the change it
-- tells about. `inapp` rows are the cabinet's list and are delivered by that commit; rows of
-- channels with a dispatcher wait as `pending` until one delivers them (`attempts`,
-- `next_attempt_at`, `last_error`; the lease is SQLite's claim).
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES users (id),
    case_id TEXT REFERENCES cases (id),
    event TEXT NOT NULL,
    channel TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    last_error TEXT,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    read_at TIMESTAMP
);
CREATE INDEX notifications_recipient ON notifications (recipient_id, channel, created_at);
CREATE INDEX notifications_pending ON notifications (next_attempt_at) WHERE status = 'pending';
