"""The database: models, engine, migrations, and full-text search on SQLite and PostgreSQL."""
