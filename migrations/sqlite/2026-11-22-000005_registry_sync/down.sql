DROP TABLE registry_rejections;
DROP TABLE registry_sync_seen;
ALTER TABLE registry_runs DROP COLUMN resume_offset;
CREATE INDEX registry_persons_seen_idx ON registry_persons (last_seen_run);
