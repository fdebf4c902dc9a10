-- The help desk: who works which support line (1: first, 2: second; a lead per line), and what
-- a support request carries beside its case: the line working it, its priority and category,
-- the application it concerns, the request it repeats, the token that matches e-mail replies,
-- and the moments of its first answer and its resolution.
CREATE TABLE support_agents (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    line SMALLINT NOT NULL CHECK (line IN (1, 2)),
    lead BOOLEAN NOT NULL,
    added_at TIMESTAMP NOT NULL
);
CREATE INDEX support_agents_line ON support_agents (line);

CREATE TABLE support_requests (
    case_id TEXT PRIMARY KEY REFERENCES cases (id),
    line SMALLINT NOT NULL CHECK (line IN (1, 2)),
    priority TEXT NOT NULL CHECK (priority IN ('normal', 'urgent')),
    category TEXT NOT NULL,
    linked_case_id TEXT REFERENCES cases (id),
    repeat_of TEXT REFERENCES cases (id),
    reply_token TEXT NOT NULL,
    first_response_at TIMESTAMP,
    resolved_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX support_requests_reply_token_key ON support_requests (reply_token);
CREATE INDEX support_requests_line ON support_requests (line, created_at);
CREATE INDEX support_requests_linked ON support_requests (linked_case_id) WHERE linked_case_id IS NOT NULL;
CREATE INDEX support_requests_repeat ON support_requests (repeat_of) WHERE repeat_of IS NOT NULL;
