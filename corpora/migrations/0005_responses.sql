-- Generator responses, version 5: every answer a generator gave a builder, keyed by what decides it
-- (generator identity, revision, prompt hash, decoding, seed), so that re-running a build, or re-building with
-- changed filters, reuses answers instead of asking the model again; the raw text is kept whatever the
-- builder's parser later made of it.
CREATE TABLE responses (
    key           VARCHAR PRIMARY KEY,
    generator     VARCHAR NOT NULL,
    revision      VARCHAR,
    prompt_hash   VARCHAR NOT NULL,
    messages      JSON    NOT NULL,
    decoding      JSON    NOT NULL,
    seed          BIGINT  NOT NULL,
    text          VARCHAR NOT NULL,
    finish_reason VARCHAR,
    usage         JSON,
    seconds       DOUBLE,
    created_at    TIMESTAMPTZ NOT NULL
);
