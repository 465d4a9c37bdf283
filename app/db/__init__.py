"""Storage: the SQLAlchemy engine and tables, Alembic upgrades, and the fast read paths."""
