-- Electronic signatures of submissions: the detached CMS file as sent, the signer
-- certificate, what was signed (the payload's SHA-256 and the case version) and the
-- verification's result. One row per accepted signed transition (submit, resubmit).
CREATE TABLE case_signatures (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    case_version BIGINT NOT NULL,
    transition TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    signature BLOB NOT NULL,
    certificate BLOB NOT NULL,
    certificate_sha256 TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    signing_time TIMESTAMP NOT NULL,
    verified_at TIMESTAMP NOT NULL
);
CREATE INDEX case_signatures_case_idx ON case_signatures (case_id);

-- Receipt numbers: one counter per year and region, taken in the submission's transaction
-- (an upsert that returns the new value, so concurrent submissions queue on the row).
CREATE TABLE receipt_counters (
    year INTEGER NOT NULL,
    region TEXT NOT NULL,
    last_value BIGINT NOT NULL,
    PRIMARY KEY (year, region)
);

-- The number a case got at its first signed submission.
CREATE TABLE case_numbers (
    case_id TEXT PRIMARY KEY REFERENCES cases (id),
    number TEXT NOT NULL,
    assigned_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX case_numbers_number_key ON case_numbers (number);

-- Receipts (acts of submission), made once and stored so every download is identical.
-- `seq` counts a case's signed submissions (1: submit, 2…: resubmissions).
CREATE TABLE receipts (
    case_id TEXT NOT NULL REFERENCES cases (id),
    seq INTEGER NOT NULL,
    number TEXT NOT NULL,
    signature_id TEXT NOT NULL REFERENCES case_signatures (id),
    pdf BLOB NOT NULL,
    xml BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, seq)
);
