-- Quality in the loop, version 8: what a build needs to reload the classifier it scored or attributed with
-- (the recipe's [models] and [classifier] settings and the ids a linear head was trained on), so that
-- `validate run` measures faithfulness and flip rates with that very model, without extra flags.
CREATE TABLE build_classifiers (
    builder_id  VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL,
    classifier  JSON    NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (builder_id, config_hash)
);
