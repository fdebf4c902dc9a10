-- Which fields of a new draft were filled in for the applicant, and from where
-- (JSON object: form pointer -> "esia" for the identity provider, "frmr" for the register).
ALTER TABLE cases ADD COLUMN prefilled TEXT NOT NULL DEFAULT '{}';
