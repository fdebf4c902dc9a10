DROP TABLE receipts;
DROP TABLE case_numbers;
DROP TABLE receipt_counters;
DROP TABLE case_signatures;
