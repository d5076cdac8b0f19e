"""Authentication: signing keys, access tokens and resolving the request's actor."""
