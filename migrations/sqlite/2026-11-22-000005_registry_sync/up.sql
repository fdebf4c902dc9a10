-- Removal marks no longer need an index on last_seen_run: records present but unchanged in a
-- full export are listed in registry_sync_seen instead of being rewritten, and the removal
-- pass is one anti-join at the end of the run.
DROP INDEX registry_persons_seen_idx;

-- Where an interrupted API sync resumes: the offset after the last committed page.
ALTER TABLE registry_runs ADD COLUMN resume_offset BIGINT;

-- Unchanged records seen by a running full sync (emptied when it finishes).
CREATE TABLE registry_sync_seen (
    run_id BIGINT NOT NULL,
    register_id TEXT NOT NULL,
    PRIMARY KEY (run_id, register_id)
);

-- Rejected records of each run, written with the batch they came in.
CREATE TABLE registry_rejections (
    run_id BIGINT NOT NULL,
    line BIGINT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (run_id, line)
);
