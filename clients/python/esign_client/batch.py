"""Sign many XML documents (e-invoices) with one authorization per batch.

Each document is prepared locally (:func:`esign.xml.signing.prepare`): only its digest leaves the
machine. The digests of a batch go to the signing service together: one ``credentials/authorize``
and one ``signatures/signHash`` for the whole batch through :class:`esign.signers.remote.RemoteSigner`
(with an organization seal no person confirms; with a personal credential the user confirms the batch
once). Then each document is finished with its signature::

    from esign.signers.remote import RemoteSigner
    from esign_client.batch import sign_xml_batch

    signer = RemoteSigner.connect(URL, SEAL_ID, client_id=ID, client_secret=SECRET)
    signed = sign_xml_batch(invoices, signer, profile="einvoice")   # 100 invoices: 1 authorize + 1 signHash
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from esign.errors import InvalidInput
from esign.signers.base import Signer
from esign.signers.remote import RemoteSigner
from esign.xml.signing import finish, prepare, signature_algorithm_of


def sign_xml_batch(
    documents: Sequence[bytes], signer: Signer, *, profile: str = "einvoice", **options: Any
) -> list[bytes]:
    """Sign ``documents`` (in order) with ``profile``; a :class:`RemoteSigner` signs them in batches of
    at most its ``multisign`` (the credential's hashes per authorization), one authorization each.

    ``options`` are :func:`esign.xml.signing.sign_xml`'s (``signature_parent``, ``digest``, ``scheme``,
    ``signing_time`` ...). Any other :class:`Signer` signs the digests one by one.

    :raises InvalidInput: a document that cannot be signed with ``profile`` (nothing is signed then).
    :raises esign.errors.SigningError: the service refused (over the seal's rate: retry after a while).
    """
    prepared = [prepare(document, signer, profile=profile, **options) for document in documents]
    if not prepared:
        return []
    algorithm = signature_algorithm_of(prepared[0][1])
    if any(signature_algorithm_of(state) != algorithm for _, state in prepared):
        raise InvalidInput("the documents of one batch must be signed with one algorithm")
    digests = [digest for digest, _ in prepared]
    signatures: list[bytes] = []
    if isinstance(signer, RemoteSigner):
        size = max(1, signer.multisign)
        for start in range(0, len(digests), size):
            signatures += signer.sign_digests_blocking(digests[start : start + size], algorithm)
    else:
        signatures = [signer.sign_digest_sync(digest, algorithm) for digest in digests]
    return [finish(state, signature) for (_, state), signature in zip(prepared, signatures, strict=True)]
