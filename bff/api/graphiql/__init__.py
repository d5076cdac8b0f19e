"""GraphiQL for development servers, served from the server's own copies of its assets."""
