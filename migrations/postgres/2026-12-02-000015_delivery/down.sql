DROP TABLE reminders;
DROP TABLE notification_preferences;
DROP INDEX notifications_claim;
CREATE INDEX notifications_pending ON notifications (next_attempt_at) WHERE status = 'pending';
ALTER TABLE notifications DROP COLUMN html;
ALTER TABLE notifications DROP COLUMN address;
