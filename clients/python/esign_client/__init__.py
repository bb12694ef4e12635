"""Python SDK for relying systems: the native session API and the CSC API of an esign server.

- :class:`EsignClient` / :class:`AsyncEsignClient`: create a signing session on hashes, wait for the
  user's phone, fetch the signatures, cancel.
- :class:`CscClient` / :class:`AsyncCscClient`: the CSC API v2 (any CSC v2 service).
- :class:`ExchangeClient`: the edXML document exchange node: send packages, read the inbox,
  fetch, acknowledge (or :meth:`~ExchangeClient.receive_all`), follow a document's history.
- :func:`verify_webhook`: check the signature of a session-ended callback.
- ``esign_client.pyhanko``: a ``CSCAuthorizationManager`` so pyHanko's ``CSCSigner`` signs through the server.
"""

from esign_client.csc import AsyncCscClient, Authorization, CredentialInfo, CscClient
from esign_client.errors import ApiError, ConfirmationTimeout
from esign_client.exchange import Delivery, Envelope, ExchangeClient, History, InboxItem, Received, Sent
from esign_client.sessions import AsyncEsignClient, Document, EsignClient, HashItem, Session
from esign_client.webhooks import SIGNATURE_HEADER, verify_webhook

__all__ = [
    "SIGNATURE_HEADER",
    "ApiError",
    "AsyncCscClient",
    "AsyncEsignClient",
    "Authorization",
    "ConfirmationTimeout",
    "CredentialInfo",
    "CscClient",
    "Delivery",
    "Document",
    "Envelope",
    "EsignClient",
    "ExchangeClient",
    "HashItem",
    "History",
    "InboxItem",
    "Received",
    "Sent",
    "Session",
    "verify_webhook",
]
