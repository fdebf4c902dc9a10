-- Our copy of ФРМР. A person's employment, education and accreditation records are kept as
-- JSON with the person (they change together and are read together).
CREATE TABLE registry_persons (
    register_id TEXT PRIMARY KEY,
    snils TEXT NOT NULL,
    last_name TEXT NOT NULL,
    first_name TEXT NOT NULL,
    middle_name TEXT,
    birth_date DATE NOT NULL,
    inn TEXT,
    gender TEXT,
    employments TEXT NOT NULL,
    educations TEXT NOT NULL,
    accreditations TEXT NOT NULL,
    source_updated_at TIMESTAMP,
    record_hash TEXT NOT NULL,
    removed_at TIMESTAMP,
    last_seen_run BIGINT NOT NULL,
    synced_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX registry_persons_snils_key ON registry_persons (snils);
CREATE INDEX registry_persons_seen_idx ON registry_persons (last_seen_run);

-- One row per sync run: what it read and did, and the rejected records.
CREATE TABLE registry_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    full_export BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    read_count BIGINT NOT NULL,
    inserted BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    removed BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    report TEXT NOT NULL
);

-- Only one sync at a time: the holder's row; a crashed holder's lock expires.
CREATE TABLE registry_lock (
    name TEXT PRIMARY KEY,
    run_id BIGINT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
