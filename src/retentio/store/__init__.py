"""The store: SQLAlchemy models, sessions, Alembic migrations and the analytics snapshot."""
