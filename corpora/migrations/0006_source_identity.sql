-- Source identity, version 6: what makes two imports of a row the same source. `key:<value>` when the data
-- has a key column (`--id-column`), else `content:<hash of text fields and label>#<occurrence>` (identical
-- rows of one dataset split numbered in file order). Ids used to hash the row number, so a row inserted at
-- the top of a re-imported file duplicated every row below it. Sources stored before get their content
-- identity computed once, in Python, right after this migration (corpora/store_sources.py); their ids stay.
ALTER TABLE sources ADD COLUMN identity VARCHAR;
