"""Python SDK for relying systems: the native session API and the CSC API of an esign server."""
