DROP TABLE number_series;
