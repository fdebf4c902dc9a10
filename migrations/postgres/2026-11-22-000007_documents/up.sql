-- Documents of a case. The file itself is a blob in the object store, named by its SHA-256;
-- the user's file name is metadata only. `inspection` is the worker's report (JSON): `status`
-- is `valid`, or `invalid` with the reasons in the report. `uploaded_at` is the first upload
-- (a replacement is allowed for 48 hours after it), `replaced_at` the last replacement.
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    doc_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    file_name TEXT NOT NULL,
    status TEXT NOT NULL,
    inspection TEXT NOT NULL,
    uploaded_by TEXT NOT NULL REFERENCES users (id),
    uploaded_at TIMESTAMP NOT NULL,
    replaced_at TIMESTAMP,
    deleted_at TIMESTAMP
);
CREATE INDEX documents_case_idx ON documents (case_id);
CREATE INDEX documents_sha256_idx ON documents (sha256);
