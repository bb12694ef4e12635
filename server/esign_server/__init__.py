"""The esign remote-signing service: signing sessions confirmed by a TOTP code on the user's phone.

Build the ASGI app with :func:`esign_server.app.create_app`; run it with ``esign server run``.
"""

__all__: list[str] = []
