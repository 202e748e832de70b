"""Label Studio: labeling configs from the schema, pushing tasks and pre-annotations, pulling annotations."""
