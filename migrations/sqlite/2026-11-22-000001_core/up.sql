CREATE TABLE users (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX users_subject_key ON users (subject);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE workflow_definitions (
    hash TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    yaml TEXT NOT NULL,
    form_schema TEXT NOT NULL,
    loaded_at TIMESTAMP NOT NULL
);

CREATE TABLE cases (
    id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    definition_hash TEXT NOT NULL REFERENCES workflow_definitions (hash),
    owner_id TEXT NOT NULL REFERENCES users (id),
    state TEXT NOT NULL,
    form_data TEXT NOT NULL,
    version BIGINT NOT NULL,
    audit_seq BIGINT NOT NULL,
    audit_head TEXT NOT NULL,
    submitted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX cases_owner_idx ON cases (owner_id, created_at);
CREATE INDEX cases_state_idx ON cases (state, workflow_id);

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    case_id TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chain TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor_id TEXT,
    case_id TEXT,
    at TIMESTAMP NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE UNIQUE INDEX audit_events_chain_seq_key ON audit_events (chain, seq);
CREATE INDEX audit_events_case_idx ON audit_events (case_id, seq);

CREATE TABLE audit_checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first_event_id BIGINT NOT NULL,
    last_event_id BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    merkle_root TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX audit_checkpoints_first_event_key ON audit_checkpoints (first_event_id);
