DROP TABLE registry_lock;
DROP TABLE registry_runs;
DROP TABLE registry_persons;
