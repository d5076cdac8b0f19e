"""One module per mutation; `resolvers.mutation` assembles them."""
