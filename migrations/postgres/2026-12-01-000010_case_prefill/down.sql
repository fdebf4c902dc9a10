ALTER TABLE cases DROP COLUMN prefilled;
