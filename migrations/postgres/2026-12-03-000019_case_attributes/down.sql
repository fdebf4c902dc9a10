ALTER TABLE support_requests ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal'
    CHECK (priority IN ('normal', 'urgent'));
UPDATE support_requests r SET priority = COALESCE(c.attributes::json->>'priority', 'normal')
FROM cases c WHERE c.id = r.case_id;
ALTER TABLE cases DROP COLUMN attributes;
