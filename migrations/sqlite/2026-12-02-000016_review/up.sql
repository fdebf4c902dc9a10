-- The commission's work: what the queue filters and sorts by, copied onto the case row when it
-- is filed (the application number, specialty, region, the applicant's name and SNILS) so one
-- index serves each filter; the assignee; the subcommissions by specialty; decisions with their
-- reasons and the fixes asked for; the message thread; the accreditation record an approval
-- issues.
ALTER TABLE cases ADD COLUMN number TEXT;
ALTER TABLE cases ADD COLUMN specialty TEXT;
ALTER TABLE cases ADD COLUMN region TEXT;
ALTER TABLE cases ADD COLUMN applicant_name TEXT;
-- Lower case, ё as е, single spaces: what a name search matches as a prefix.
ALTER TABLE cases ADD COLUMN name_key TEXT;
ALTER TABLE cases ADD COLUMN snils TEXT;
-- No REFERENCES: SQLite cannot drop a column with a foreign key (the down migration).
ALTER TABLE cases ADD COLUMN assignee_id TEXT;
CREATE INDEX cases_queue_due ON cases (due_on, id) WHERE submitted_at IS NOT NULL;
CREATE INDEX cases_queue_specialty ON cases (specialty, state, due_on, id) WHERE submitted_at IS NOT NULL;
CREATE INDEX cases_queue_assignee ON cases (assignee_id, due_on, id) WHERE submitted_at IS NOT NULL;
CREATE INDEX cases_number ON cases (number) WHERE number IS NOT NULL;
CREATE INDEX cases_snils ON cases (snils) WHERE snils IS NOT NULL;
CREATE INDEX cases_name_key ON cases (name_key) WHERE name_key IS NOT NULL;

CREATE TABLE subcommissions (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE subcommission_specialties (
    subcommission TEXT NOT NULL REFERENCES subcommissions (code) ON DELETE CASCADE,
    specialty TEXT NOT NULL,
    PRIMARY KEY (subcommission, specialty)
);
CREATE INDEX subcommission_specialties_specialty ON subcommission_specialties (specialty);
CREATE TABLE subcommission_members (
    subcommission TEXT NOT NULL REFERENCES subcommissions (code) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (subcommission, user_id)
);
CREATE INDEX subcommission_members_user ON subcommission_members (user_id);

CREATE TABLE case_decisions (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    transition TEXT NOT NULL,
    decided_by TEXT REFERENCES users (id),
    decided_at TIMESTAMP NOT NULL,
    -- JSON: [{"code", "text"}] from the reasons catalogue.
    reasons TEXT NOT NULL,
    recommendations TEXT,
    -- JSON: {"fields": [{"pointer", "comment", "before"}], "documents": [{"type", "comment"}]}.
    fixes TEXT NOT NULL
);
CREATE INDEX case_decisions_case ON case_decisions (case_id, decided_at);
CREATE INDEX case_decisions_at ON case_decisions (decided_at, id);

CREATE TABLE case_messages (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL REFERENCES cases (id),
    author_id TEXT NOT NULL REFERENCES users (id),
    -- `applicant` or `commission`.
    side TEXT NOT NULL,
    author_role TEXT NOT NULL,
    body TEXT NOT NULL,
    -- JSON: [document id].
    attachments TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX case_messages_case ON case_messages (case_id, id);

CREATE TABLE accreditation_records (
    case_id TEXT PRIMARY KEY REFERENCES cases (id),
    number TEXT NOT NULL,
    holder_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    specialty_code TEXT NOT NULL,
    specialty_name TEXT NOT NULL,
    decided_at TIMESTAMP NOT NULL,
    decision_date DATE NOT NULL,
    valid_until DATE NOT NULL,
    pdf BLOB NOT NULL,
    xml BLOB NOT NULL
);
CREATE UNIQUE INDEX accreditation_records_number_key ON accreditation_records (number);
CREATE INDEX accreditation_records_holder ON accreditation_records (holder_id);
