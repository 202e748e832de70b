"""Corpus model: record schema, DuckDB store, importers, licences and versioned Hugging Face export."""
