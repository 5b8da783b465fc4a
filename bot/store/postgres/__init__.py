"""The PostgreSQL driver of the store (asyncpg): selected by ``[storage] url = "postgresql://..."``."""
