ALTER TABLE support_requests ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal'
    CHECK (priority IN ('normal', 'urgent'));
UPDATE support_requests SET priority = COALESCE(
    (SELECT json_extract(c.attributes, '$.priority') FROM cases c WHERE c.id = support_requests.case_id),
    'normal');
ALTER TABLE cases DROP COLUMN attributes;
