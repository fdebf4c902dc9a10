DROP TABLE calendar_overrides;
