-- An operator's decisions on single dates of the production calendar (an extraordinary day
-- off, or a working day), which win over the decrees compiled into the binary.
CREATE TABLE calendar_overrides (
    day DATE PRIMARY KEY,
    working BOOLEAN NOT NULL,
    reason TEXT NOT NULL,
    decided_at TIMESTAMP NOT NULL
);
