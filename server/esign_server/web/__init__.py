"""Web pages the server hands out as static files: the mobile confirmation app at ``/m/``."""
