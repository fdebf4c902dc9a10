-- What the identity provider said about a person at their last login, and how that compared
-- with the register then (result code and the outcome as JSON, with both values of each
-- differing field). Kept apart from the audit log so it can be corrected or erased.
CREATE TABLE person_profiles (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    snils TEXT,
    last_name TEXT,
    first_name TEXT,
    middle_name TEXT,
    birth_date DATE,
    inn TEXT,
    registry_result TEXT NOT NULL,
    registry_detail TEXT NOT NULL,
    checked_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- The register check of a case's applicant: from the last submit attempt, or from the
-- re-check after a register sync. Cases whose result is not a match are waiting on it.
CREATE TABLE case_registry_checks (
    case_id TEXT PRIMARY KEY REFERENCES cases (id),
    result TEXT NOT NULL,
    detail TEXT NOT NULL,
    register_id TEXT,
    checked_at TIMESTAMP NOT NULL
);
CREATE INDEX case_registry_checks_result_idx ON case_registry_checks (result);
