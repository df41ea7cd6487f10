"""Storage: the flat files (always) and a database (PostgreSQL, or embedded SQLite)."""
