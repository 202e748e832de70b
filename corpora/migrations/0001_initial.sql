-- Corpus store, version 1. JSON columns hold pydantic-validated payloads (corpora/schema.py is the
-- typed description); kind/label/origin/agent_id are lifted out so that common queries need no JSON.
CREATE TABLE project (
    key   VARCHAR PRIMARY KEY,
    value JSON NOT NULL
);

CREATE TABLE sources (
    id          VARCHAR PRIMARY KEY,
    dataset     VARCHAR NOT NULL,
    split       VARCHAR NOT NULL,
    row         BIGINT  NOT NULL,
    fields      JSON    NOT NULL,
    label       VARCHAR,
    license     VARCHAR,
    attribution VARCHAR,
    imported_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE rounds (
    id                VARCHAR PRIMARY KEY,
    name              VARCHAR NOT NULL,
    kind              VARCHAR NOT NULL,
    guideline_version VARCHAR,
    details           JSON,
    created_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE candidates (
    id         VARCHAR PRIMARY KEY,
    source_id  VARCHAR NOT NULL REFERENCES sources (id),
    kind       VARCHAR NOT NULL,
    label      VARCHAR,
    origin     VARCHAR NOT NULL,
    agent_id   VARCHAR NOT NULL,
    payload    JSON    NOT NULL,
    provenance JSON    NOT NULL
);

CREATE TABLE annotations (
    id           VARCHAR PRIMARY KEY,
    source_id    VARCHAR NOT NULL REFERENCES sources (id),
    round_id     VARCHAR REFERENCES rounds (id),
    candidate_id VARCHAR,
    kind         VARCHAR NOT NULL,
    label        VARCHAR,
    origin       VARCHAR NOT NULL,
    agent_id     VARCHAR NOT NULL,
    payload      JSON    NOT NULL,
    provenance   JSON    NOT NULL,
    lead_time    DOUBLE
);

CREATE TABLE validation_results (
    run_id     VARCHAR NOT NULL,
    metric     VARCHAR NOT NULL,
    scope      VARCHAR NOT NULL,
    value      DOUBLE,
    details    JSON,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, metric, scope)
);

CREATE TABLE exports (
    version     VARCHAR PRIMARY KEY,
    fingerprint VARCHAR NOT NULL,
    license     VARCHAR NOT NULL,
    override    VARCHAR,
    counts      JSON NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
