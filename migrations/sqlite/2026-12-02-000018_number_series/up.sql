-- Numbers a workflow gives at creation (`number_prefix`: ACCREDO-1, ACCREDO-2, …), one series
-- per prefix; the row's update holds its lock until the creating transaction commits, so
-- numbers are unique and consecutive under concurrent creations.
CREATE TABLE number_series (
    prefix TEXT PRIMARY KEY,
    last_value BIGINT NOT NULL
);
