-- Corpus metadata, version 4: the loose `name` setting becomes the `info` object (corpora/info.py);
-- the pretty_name / language / task_categories keys were never set by anything and are dropped.
INSERT INTO project
SELECT 'info', json_object('name', json_extract_string(value, '$')) FROM project WHERE key = 'name';
DELETE FROM project WHERE key IN ('name', 'pretty_name', 'language', 'task_categories');
