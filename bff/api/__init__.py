"""The GraphQL application: context, error boundary and the Strawberry ASGI view."""
