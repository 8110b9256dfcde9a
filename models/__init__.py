"""The data's shapes: SQL tables, boundary schemas and Parquet lake schemas, each written once."""
