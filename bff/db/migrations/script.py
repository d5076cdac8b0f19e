"""Run a multi-statement SQL script inside an Alembic migration.

asyncpg prepares every parameterised statement, and a prepared statement holds one command, so
DDL scripts go through the driver's simple-query protocol instead (inside the migration's
transaction).
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.util import await_only


def run_script(sql: str) -> None:
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    await_only(driver_connection.execute(sql))
