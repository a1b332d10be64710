"""The catalog: an SQL index of every pushed version (SQLModel over SQLite or
PostgreSQL), derived from the bucket and rebuilt from it by ``catalog sync``."""
