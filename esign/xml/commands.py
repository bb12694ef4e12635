"""The work of ``esign xml sign`` and ``esign xml verify``, without typer, so that they start fast.

The typer commands (:mod:`esign.xml.cli`) run :func:`sign` and :func:`verify`. For the plain forms of
the commands (the options below, as typer reads them), :func:`fast_main` parses the arguments itself
and skips typer, rich and pydantic, which take ~0.2 s to import and to build the options'
validators: on a 50 MB document that was the difference between slower and faster than
``xmlsec1``. Anything else (``--help``, a mistake, an option it does not know, ``--remote``) goes on
to typer, which prints its usual messages. After its output is written, the process ends without
freeing the parsed document and without interpreter teardown: ~0.2 s for a 50 MB document that
the kernel reclaims for free.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from esign.errors import EsignError

Echo = Callable[..., Any]
"""``echo(message, err=False)``: how output and errors are written (``typer.echo`` in the typer commands)."""

# The options fast_main reads: name -> (parameter, takes a value, repeatable), then the required ones.
_VERIFY_OPTIONS = {
    "--trust": ("trust", True, True),
    "--trust-only": ("trust_only", True, True),
    "--lang": ("lang", True, False),
    "--report": ("report", True, False),
    "--at": ("at", True, False),
    "--detached": ("detached", True, True),
    "--profile": ("profile", True, False),
    "--intermediates": ("intermediates", True, True),
    "--json": ("as_json", False, False),
    "--fetch": ("fetch", False, False),
    "--allow-weak": ("allow_weak", False, False),
    "--reveal": ("reveal", False, False),
}
_SIGN_OPTIONS = {
    "--output": ("output", True, False),
    "-o": ("output", True, False),
    "--key": ("key", True, False),
    "--password": ("password", True, False),
    "--cert": ("cert", True, False),
    "--profile": ("profile", True, False),
    "-p": ("profile", True, False),
    "--ref": ("ref", True, False),
    "--parent": ("parent", True, False),
    "--digest": ("digest", True, False),
    "--c14n": ("c14n", True, False),
    "--scheme": ("scheme", True, False),
    "--tsa": ("tsa", True, False),
}
_COMMANDS = {"verify": (_VERIFY_OPTIONS, ()), "sign": (_SIGN_OPTIONS, ("output",))}
_PATHS = ("trust", "trust_only", "report", "output", "key", "cert", "intermediates")


def verify(
    source: Path,
    trust: list[Path] | None = None,
    *,
    trust_only: list[Path] | None = None,
    as_json: bool = False,
    fetch: bool = False,
    allow_weak: bool = False,
    reveal: bool = False,
    detached: list[str] | None = None,
    lang: str | None = None,
    report: Path | None = None,
    at: str | None = None,
    profile: str | None = None,
    intermediates: list[Path] | None = None,
    echo: Echo,
    keep: list[object] | None = None,
) -> int:
    """Verify ``source``, write the report with ``echo`` and return the exit code.

    0 every signature TOTAL-PASSED, 1 one TOTAL-FAILED, 3 INDETERMINATE, 2 refused input or an
    unreadable file (:mod:`esign.verify_cli`). Without ``trust``/``trust_only`` the default trust store
    (bundled Vietnamese roots + operator's) is used. With ``keep``, the parsed document is appended to
    it, for a caller that exits without freeing it. ``profile`` forces the shape checks (``einvoice``,
    ``xades``, ``xmldsig``; detected by default); ``intermediates`` are CA certificate files used to
    build the signer's path; with ``as_json`` each reference carries the content it signed.
    """
    from esign.signers import load_certificates
    from esign.verify_cli import emit, language, parse_time, trust_anchors
    from esign.xml.verification import verify_keeping_tree

    try:
        chosen = language(lang)
        moment = parse_time(at)
        anchors = trust_anchors(trust, trust_only)
        resolver = {}
        for item in detached or []:
            uri, _, path = item.partition("=")
            resolver[uri] = Path(path).read_bytes()
        extra = [c for path in intermediates or [] for c in load_certificates(path)]
        data = source.read_bytes()
        result, tree = verify_keeping_tree(
            data,
            trust_anchors=anchors,
            allow_fetching=fetch,
            allow_weak=allow_weak,
            reveal=reveal,
            detached=resolver or None,
            validation_time=moment,
            keep_signed=as_json,  # --json shows what each reference signed; the text report does not need it
            profile=profile,
            intermediates=extra,
        )
    except EsignError as exc:
        echo(f"refused: {exc}", err=True)
        return 2
    except OSError as exc:
        from esign.errors import file_error_text

        echo(f"error: {file_error_text(exc)}", err=True)
        return 2
    if keep is not None:
        keep.append(tree)
    del tree
    try:
        return emit(
            result.reports, source=source, lang=chosen, as_json=as_json, echo=echo, report_pdf=report, document=data
        )
    except (EsignError, OSError) as exc:
        from esign.errors import file_error_text

        echo(f"error: {file_error_text(exc) if isinstance(exc, OSError) else exc}", err=True)
        return 2


def sign(
    source: Path,
    output: Path,
    *,
    key: Path | None = None,
    password: str | None = None,
    cert: Path | None = None,
    profile: str = "xmldsig-enveloped",
    ref: str | None = None,
    parent: str | None = None,
    digest: str = "sha256",
    c14n: str = "exclusive",
    scheme: str | None = None,
    tsa: str | None = None,
    remote: str | None = None,
    credential: str | None = None,
    otp: str | None = None,
    echo: Echo,
) -> int:
    """Sign ``source`` into ``output`` with a key file (or a key on ``remote``); the exit code (0, or 2 on errors)."""
    from esign.errors import InvalidInput
    from esign.signers import FileSigner, Signer
    from esign.xml.signing import sign_xml

    try:
        signer: Signer
        if remote:
            from esign.signers.remote import console_signer

            signer = console_signer(remote, credential, otp=otp, document_name=Path(source).name)
        elif key is None:
            raise InvalidInput("give --key FILE, or --remote URL --credential ID")
        elif cert is not None:
            signer = FileSigner.from_pem(key, cert, password)
        else:
            signer = FileSigner.from_pkcs12(key, password)
        signed = sign_xml(
            source.read_bytes(),
            signer,
            profile=profile,
            reference_id=ref,
            signature_parent=parent,
            digest=digest,
            c14n=c14n,
            scheme=scheme,
            tsa_url=tsa,
        )
    except (EsignError, OSError) as exc:
        from esign.errors import file_error_text

        echo(f"error: {file_error_text(exc) if isinstance(exc, OSError) else exc}", err=True)
        return 2
    output.write_bytes(signed)
    echo(f"signed ({profile}): {output}")
    return 0


def parse_args(command: str, argv: list[str]) -> dict[str, Any] | None:
    """The options of ``esign xml <command>`` from ``argv`` (after the command), or None to leave it to typer.

    Reads what typer reads for these options (``--opt value``, ``--opt=value``, ``-o value``, the
    last of a repeated option or all of a repeatable one, the source anywhere) and nothing more:
    help, ``--``, options it does not know, a missing required option or source, or a second
    source all return None.
    """
    if command not in _COMMANDS:
        return None
    known, required = _COMMANDS[command]
    options: dict[str, Any] = {}
    sources: list[str] = []
    items = iter(argv)
    for arg in items:
        name, has_value, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        spec = known.get(name)
        if spec is None:
            if arg.startswith("-"):
                return None  # --help, --, -x, options this parser does not know
            sources.append(arg)
            continue
        parameter, takes_value, repeatable = spec
        if not takes_value:
            if has_value:
                return None  # --json=yes: typer refuses it
            options[parameter] = True
            continue
        given = value if has_value else next(items, None)
        if given is None:
            return None
        if repeatable:
            options.setdefault(parameter, []).append(given)
        else:
            options[parameter] = given
    if len(sources) != 1 or any(name not in options for name in required):
        return None
    options["source"] = sources[0]
    for name in ("source", *_PATHS):
        if isinstance(options.get(name), list):
            options[name] = [Path(p) for p in options[name]]
        elif name in options:
            options[name] = Path(options[name])
    if command == "sign" and "password" not in options:
        options["password"] = os.environ.get("ESIGN_KEY_PASSWORD") or None  # typer's envvar
    return options


def fast_main(argv: list[str]) -> None:
    """Run ``esign xml sign|verify`` (``argv`` from the command on) and end the process, or return at once
    when typer should handle the arguments."""
    if not argv:
        return
    options = parse_args(argv[0], argv[1:])
    if options is None:
        return
    keep: list[object] = []
    code = verify(**options, echo=_echo, keep=keep) if argv[0] == "verify" else sign(**options, echo=_echo)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        code = 2  # the output could not be written (e.g. a closed pipe): never a silent success
    os._exit(code)  # no freeing of the document, no interpreter teardown: the kernel reclaims it all


def _echo(message: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    try:
        stream.write(message + "\n")
    except UnicodeEncodeError:  # a terminal that cannot show Vietnamese: replace, as click does
        encoding = stream.encoding or "ascii"
        stream.write((message + "\n").encode(encoding, "replace").decode(encoding))


__all__ = ["fast_main", "parse_args", "sign", "verify"]
