-- Builders, version 3. Candidates get their automatic scores (classifier probability of the target label,
-- edit distance, fluency, similarity to the input, ...); candidates a builder's filters rejected are kept
-- with the reason, never silently dropped; build_log makes `whyset build` resumable per builder config.
ALTER TABLE candidates ADD COLUMN scores JSON;

CREATE TABLE rejected_candidates (
    id         VARCHAR PRIMARY KEY,
    source_id  VARCHAR NOT NULL,
    builder_id VARCHAR NOT NULL,
    kind       VARCHAR NOT NULL,
    payload    JSON,
    provenance JSON NOT NULL,
    reason     VARCHAR NOT NULL,
    scores     JSON
);

CREATE TABLE build_log (
    builder_id  VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    source_id   VARCHAR NOT NULL,
    candidates  INTEGER NOT NULL,
    rejected    INTEGER NOT NULL,
    built_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (builder_id, config_hash, source_id)
);
