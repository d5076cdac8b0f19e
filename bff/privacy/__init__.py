"""Privacy rights from the command line."""
