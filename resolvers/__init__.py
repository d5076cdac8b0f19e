"""Root Query and Mutation resolvers: thin adapters from GraphQL to the domain."""
