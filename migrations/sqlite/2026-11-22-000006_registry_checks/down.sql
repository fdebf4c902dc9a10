DROP TABLE case_registry_checks;
DROP TABLE person_profiles;
