-- Annotation campaigns, version 7.
-- Tasks: a control item carries its known answer (the source's gold label), and a task taken back from an
-- annotator (they left the round, or work was rebalanced to a newcomer) is marked withdrawn, never deleted:
-- the store keeps who was shown what.
ALTER TABLE studio_tasks ADD COLUMN control_answer VARCHAR;
ALTER TABLE studio_tasks ADD COLUMN withdrawn_at TIMESTAMPTZ;

-- Results are versioned: an annotation edited in Label Studio after it was pulled becomes version n+1 of the
-- same annotation id; the earlier version is kept with superseded_at set (so are annotations deleted in Label
-- Studio). updated_at is Label Studio's stamp of the version; decision is what the answer decides (a label,
-- "can't decide", ...), compared with a control item's known answer.
CREATE TABLE studio_results_v7 (
    server        VARCHAR NOT NULL,
    annotation_id INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    project_id    INTEGER NOT NULL,
    task_id       INTEGER NOT NULL,
    round_id      VARCHAR NOT NULL,
    source_id     VARCHAR NOT NULL,
    candidate_id  VARCHAR,
    annotator     VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,
    problem       VARCHAR,
    judgement     JSON,
    record_id     VARCHAR,
    raw           JSON NOT NULL,
    pulled_at     TIMESTAMPTZ NOT NULL,
    updated_at    VARCHAR,
    lead_time     DOUBLE,
    decision      VARCHAR,
    superseded_at TIMESTAMPTZ,
    PRIMARY KEY (server, annotation_id, version)
);
INSERT INTO studio_results_v7
SELECT server, annotation_id, 1, project_id, task_id, round_id, source_id, candidate_id, annotator, status, problem,
       judgement, record_id, raw, pulled_at, json_extract_string(raw, '$.annotation.updated_at'),
       TRY_CAST(json_extract(raw, '$.annotation.lead_time') AS DOUBLE), NULL, NULL
FROM studio_results;
DROP TABLE studio_results;
ALTER TABLE studio_results_v7 RENAME TO studio_results;

-- Incremental pull: per project, the newest task update seen (Label Studio's own clock, as it formats it).
CREATE TABLE studio_pulls (
    server     VARCHAR NOT NULL,
    project_id INTEGER NOT NULL,
    watermark  VARCHAR,
    pulled_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (server, project_id)
);

-- An annotation record whose Label Studio annotation was edited (or deleted) since is superseded: kept, but
-- left out of exports and validation.
ALTER TABLE annotations ADD COLUMN superseded BOOLEAN DEFAULT false;
