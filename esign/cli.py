"""The ``esign`` command: ``pdf``, ``xml``, ``trust``, ``pki``, ``orgid``, ``edxml``, ``id``, ``server``, ``remote``.

Each library group lives beside the code it drives (``esign/<area>/cli.py``) and is imported only
when used. Optional groups (``server``, ``remote``, or a plug-in's) are found through the
``esign.commands`` entry points (``name = "module:typer_app [extra]"``), so the library never names the
server or the client; a group whose extra is missing says which extra to install.
typer and rich load only when needed: ``esign xml sign`` and ``esign xml verify`` (the commands
people time against ``xmlsec1``) start without them (:func:`esign.xml.commands.fast_main`).
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from esign.errors import EsignError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    import typer
    from rich.console import Console

# The library's own groups: name -> (module holding `app`, help text).
GROUPS: dict[str, tuple[str, str]] = {
    "pki": ("esign.pki.cli", "Dev PKI: CA, OCSP, CRL, time-stamping."),
    "pdf": ("esign.pdf.cli", "Sign, verify and extend PDF (PAdES)."),
    "xml": ("esign.xml.cli", "Sign and verify XML (XMLDSig, XAdES, e-invoice)."),
    "trust": ("esign.trust.cli", "The trust store: list, add and remove trusted root certificates."),
    "orgid": ("esign.orgid.cli", "Organization electronic identifier codes."),
    "edxml": ("esign.edxml.cli", "edXML document exchange packages (QCVN 102:2016)."),
    "id": ("esign.identity.cli", "Citizen numbers, tax codes and other identifiers."),
}

ENTRY_POINT_GROUP = "esign.commands"
"""Entry points adding ``esign`` subcommands: the name is the subcommand, the object a ``typer.Typer``."""


def plugin_commands() -> dict[str, EntryPoint]:
    """The subcommands installed through :data:`ENTRY_POINT_GROUP` (a library group's name is never replaced)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in GROUPS}


def _root() -> None:
    """Sign and verify PDF and XML documents; run the remote-signing server."""


def version() -> None:
    """Print the esign version."""
    from esign import __version__

    print(__version__)


@functools.cache
def _app() -> typer.Typer:
    import typer

    app = typer.Typer(
        name="esign",
        help="Sign and verify PDF and XML documents; run the remote-signing server.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    app.command()(version)
    return app


@functools.cache
def _err() -> Console:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def __getattr__(name: str) -> Any:
    # `app` (the typer application) and `err` (the stderr console) are built on first use.
    if name == "app":
        return _app()
    if name == "err":
        return _err()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _missing(name: str, extra: str | None, exc: ImportError) -> Callable[[], None]:
    def explain() -> None:
        import typer
        from rich.markup import escape

        hint = escape(f": pip install 'esign[{extra}]'") if extra else ""  # [extra] is not Rich markup
        _err().print(f"[red]esign {name} is not available[/red] ({escape(str(exc.name or exc))}){hint}")
        raise typer.Exit(2)

    return explain


# A module each extra installs: its absence means the extra is missing, even when the group's own
# module would import (the server CLI imports FastAPI only when it serves).
EXTRA_PROBES = {"server": "fastapi", "client": "httpx", "pkcs11": "pkcs11"}


def _register(name: str, plugins: dict[str, EntryPoint]) -> None:
    if name in GROUPS:
        module_name, help_text = GROUPS[name]
        _app().add_typer(importlib.import_module(module_name).app, name=name, help=help_text)
        return
    entry = plugins[name]
    extra = entry.extras[0] if entry.extras else None
    try:
        if extra in EXTRA_PROBES:
            importlib.import_module(EXTRA_PROBES[extra])
        group = entry.load()
    except ImportError as exc:
        _app().command(
            name,
            help=f"(needs: pip install 'esign[{extra}]')" if extra else None,
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        )(_missing(name, extra, exc))
        return
    _app().add_typer(group, name=name)


def _wanted_groups(argv: list[str], plugins: dict[str, EntryPoint]) -> list[str]:
    # Import only the group asked for; `esign --help` lists them all.
    known = [*GROUPS, *plugins]
    for arg in argv:
        if not arg.startswith("-"):
            return [arg] if arg in known else []
    return known


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``esign`` command (plain ``esign xml sign|verify`` end the process when done)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["xml"] and args[1:2] in (["sign"], ["verify"]):
        from esign.xml.commands import fast_main

        fast_main(args[1:])  # ends the process, or returns when the arguments need typer (help, mistakes)
    plugins = {} if args[:1] and args[0] in GROUPS else plugin_commands()
    for name in _wanted_groups(args, plugins):
        _register(name, plugins)
    try:
        _app()(args=args, prog_name="esign")
    except EsignError as exc:
        from rich.markup import escape

        _err().print(f"[red]error:[/red] {escape(exc.message)}")
        sys.exit(2)


if __name__ == "__main__":
    main()
