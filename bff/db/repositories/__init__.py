"""PostgreSQL implementations of the domain's repository ports."""
