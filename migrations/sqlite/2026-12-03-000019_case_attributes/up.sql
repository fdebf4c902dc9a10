-- What a case is classed by (a support request's priority and kind), as a JSON object of the
-- values set; the workflow declares the attributes, their defaults and the norms that depend on
-- them. A support request's priority moves here from its own table.
ALTER TABLE cases ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
UPDATE cases SET attributes = (
    SELECT json_object('priority', r.priority) FROM support_requests r WHERE r.case_id = cases.id
) WHERE id IN (SELECT case_id FROM support_requests);
ALTER TABLE support_requests DROP COLUMN priority;
