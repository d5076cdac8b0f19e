"""PostgreSQL storage: tables, engine, unit of work, repositories, migrations."""
