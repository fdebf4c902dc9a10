-- Delivery: what a dispatcher needs on each outbox row (the address it goes to, captured when
-- the change was committed, and the HTML part of an e-mail), the person's choice per channel,
-- and the renewal reminders already sent (once per person, accreditation and offset).
ALTER TABLE notifications ADD COLUMN address TEXT;
ALTER TABLE notifications ADD COLUMN html TEXT;
CREATE INDEX notifications_claim ON notifications (channel, next_attempt_at) WHERE status = 'pending';
DROP INDEX notifications_pending;

CREATE TABLE notification_preferences (
    user_id TEXT NOT NULL REFERENCES users (id),
    channel TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    address TEXT,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, channel)
);

CREATE TABLE reminders (
    user_id TEXT NOT NULL REFERENCES users (id),
    accreditation TEXT NOT NULL,
    offset_days INTEGER NOT NULL,
    valid_until DATE NOT NULL,
    case_id TEXT REFERENCES cases (id),
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, accreditation, offset_days)
);
