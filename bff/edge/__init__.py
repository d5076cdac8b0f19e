"""Small ASGI layers around the GraphQL app; each passes through what it does not handle."""
