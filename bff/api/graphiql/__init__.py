"""GraphiQL for development servers, served from the server's own copies of its assets: the
page (`graphiql_page`, with its Content-Security-Policy) and the static route under /graphiql/
(`assets_route`). Production serves neither."""

from bff.api.graphiql.assets import assets_route
from bff.api.graphiql.page import graphiql_page

__all__ = ["assets_route", "graphiql_page"]
