"""The admin web console at ``/admin/``: Vietnamese by default, server-rendered, no CDN.

Officers sign in with a password (argon2id) and a TOTP code; their roles narrow the admin API's
``admin`` scope to their job. Pages call the same services as the admin API.
"""
