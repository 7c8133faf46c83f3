"""Retention analytics written once as Ibis expressions (DuckDB by default, PostgreSQL, Spark, ...)."""
