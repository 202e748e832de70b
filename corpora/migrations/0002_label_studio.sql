-- Label Studio bookkeeping, version 2. A project is one (round, kind, annotator) on one server; a task row
-- is one item pushed to one project (so "who saw what" is a join); a result row is one pulled annotation
-- with its status, kept even when invalid so nothing an annotator submitted is ever lost.
CREATE TABLE studio_projects (
    server            VARCHAR NOT NULL,
    project_id        INTEGER NOT NULL,
    title             VARCHAR NOT NULL,
    round_id          VARCHAR NOT NULL REFERENCES rounds (id),
    kind              VARCHAR NOT NULL,
    annotator         VARCHAR NOT NULL,
    label_config      VARCHAR NOT NULL,
    guideline_version VARCHAR,
    created_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (server, project_id)
);

CREATE TABLE studio_tasks (
    server       VARCHAR NOT NULL,
    project_id   INTEGER NOT NULL,
    task_id      INTEGER NOT NULL,
    item_key     VARCHAR NOT NULL,
    source_id    VARCHAR NOT NULL REFERENCES sources (id),
    candidate_id VARCHAR,
    pushed_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (server, project_id, item_key)
);

CREATE TABLE studio_results (
    server        VARCHAR NOT NULL,
    annotation_id INTEGER NOT NULL,
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
    PRIMARY KEY (server, annotation_id)
);
