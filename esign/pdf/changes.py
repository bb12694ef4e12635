"""What changed in a PDF after a signature: form values, annotations, pages, DSS, later signatures.

pyHanko's difference analysis says *whether* the changes after a signed revision are allowed
(``ModificationLevel``); this module says *what* they are, so that a reader of a TOTAL-PASSED report
learns that, for example, a form field's appearance now covers the signed text. It compares the
signed revision (pyHanko's ``HistoricalResolver``) with the latest one:

* form fields: added, removed, value changed (old → new);
* annotations per page: added, removed, changed (widgets of fields are reported with their field);
* pages added or removed;
* DSS updates, later signatures and document time-stamps, catalog metadata and ``/Info`` updates;
* any other object rewritten after signing (counted).

Optionally (``render_differences``) both revisions are rendered with Poppler's ``pdftoppm`` and the
pages that look different are named: the check that catches what a structural list cannot.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from esign.report import ChangeInfo

MAX_PAGES = 5_000
MAX_FIELDS = 5_000
MAX_DEPTH = 32
RENDER_DPI = 30
"""Low resolution: a changed figure or word still changes pixels, and a page renders in a few ms."""
RENDER_TIMEOUT = 10
"""Seconds per revision rendered; a page made to render slowly (hostile input) stops the comparison."""
MAX_RENDER_PAGES = 50
"""Pages compared at most (the first ones); the report says when there were more."""


def changes_after(reader: PdfFileReader, revision: int, later_signatures: list[tuple[str, str]]) -> list[ChangeInfo]:
    """Every change between ``revision`` (0 = oldest) and the latest revision of ``reader``.

    ``later_signatures`` are ``(kind, name)`` of the signatures and document time-stamps added after
    ``revision`` (kind ``signature`` or ``timestamp``).
    """
    last = reader.xrefs.total_revisions - 1
    if revision >= last:
        return []
    changed: set[tuple[int, int]] = set()
    for rev in range(revision + 1, last + 1):
        changed |= {(r.idnum, r.generation) for r in reader.xrefs.explicit_refs_in_revision(rev)}
    old = reader.get_historical_resolver(revision)
    out: list[ChangeInfo] = []
    accounted: set[tuple[int, int]] = set()
    old_root, new_root = old.root, reader.root
    later_names = {name for _, name in later_signatures}
    shown: dict[str, bool] = {}
    for change in _field_changes(_fields(old_root), _fields(new_root), changed, accounted):
        if change.name in later_names and change.kind in ("form_field_added", "form_field_signed"):
            shown[change.name] = change.visible  # reported below as the signature it holds
        else:
            out.append(change)
    out += _page_changes(list(_pages(old_root)), list(_pages(new_root)), changed, accounted)
    out += _catalog_changes(old_root, new_root, old.trailer_view, reader.trailer_view, changed, accounted)
    for kind, name in later_signatures:
        what = "document time-stamp" if kind == "timestamp" else "signature"
        where = " (with a visible appearance)" if shown.get(name) else ""
        out.append(
            ChangeInfo(kind=kind, name=name, description=f"{what} {name} added{where}", visible=shown.get(name, False))
        )
    other = {r for r in changed - accounted - _structural_refs(reader, revision, last) if not _is_container(reader, r)}
    if other:
        out.append(
            ChangeInfo(kind="other", description=f"{len(other)} other object(s) added or rewritten", visible=False)
        )
    return out


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` dereferenced, or ``default`` (a pyHanko dictionary's ``get`` returns raw references)."""
    if obj is None:
        return default
    obj = obj.get_object() if isinstance(obj, generic.IndirectObject) else obj
    try:
        return obj[key] if key in obj else default
    except Exception:
        return default


def _ref(obj: Any) -> tuple[int, int] | None:
    if isinstance(obj, generic.IndirectObject):
        return obj.idnum, obj.generation
    return None


def _structural_refs(reader: PdfFileReader, first: int, last: int) -> set[tuple[int, int]]:
    """Objects every incremental update rewrites (catalog, xref streams, /Info): not changes in themselves."""
    refs: set[tuple[int, int]] = set()
    root = _ref(reader.trailer_view.raw_get("/Root"))
    if root:
        refs.add(root)
    for rev in range(first + 1, last + 1):
        meta = reader.xrefs.get_xref_container_info(rev)
        if meta.stream_ref is not None:
            refs.add((meta.stream_ref.idnum, meta.stream_ref.generation))
    return refs


def _is_container(reader: PdfFileReader, ref: tuple[int, int]) -> bool:
    """An object stream: it only carries other objects, which are counted themselves."""
    try:
        obj = reader.get_object(generic.Reference(ref[0], ref[1], reader))
        return isinstance(obj, generic.StreamObject) and obj.get("/Type") == "/ObjStm"
    except Exception:
        return False


def _text(value: Any) -> str | None:
    if value is None:
        return None
    value = value.get_object() if isinstance(value, generic.IndirectObject) else value
    if isinstance(value, generic.DictionaryObject):
        if _get(value, "/Type") == "/Sig" or "/ByteRange" in value:
            return "(signature)"
        return "(dictionary)"
    if isinstance(value, generic.StreamObject):
        return "(stream)"
    if isinstance(value, generic.ArrayObject):
        return "[" + ", ".join(str(_text(v)) for v in value[:20]) + "]"
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "…"


FieldState = tuple[Any, list[tuple[int, int]], tuple[int, int] | None, bool, set[tuple[int, int]]]
"""A terminal form field: value, widget refs, field ref, whether a widget shows on a page, appearance refs."""


def _fields(root: Any) -> dict[str, FieldState]:
    """Terminal fields by full name."""
    out: dict[str, FieldState] = {}
    try:
        form = _get(root, "/AcroForm")
        fields = _get(form, "/Fields") if form is not None else None
    except Exception:
        return out
    if fields is None:
        return out

    def walk(kids: Any, prefix: str, depth: int, inherited: Any) -> None:
        if depth > MAX_DEPTH or len(out) > MAX_FIELDS:
            return
        for raw in kids:
            try:
                field = raw.get_object()
                partial = _get(field, "/T")
            except Exception:  # noqa: S112 - an unreadable field is no field (hostile input)
                continue
            name = f"{prefix}.{partial}" if prefix and partial is not None else str(partial or prefix)
            value = field.raw_get("/V") if "/V" in field else inherited
            children = _get(field, "/Kids")
            named_kids = [k for k in (children or []) if "/T" in k.get_object()]
            if named_kids:
                walk(named_kids, name, depth + 1, value)
                continue
            widget_objs = list(children or []) or [raw]
            widgets = [r for r in (_ref(k) for k in widget_objs) if r]
            out[name] = (value, widgets, _ref(raw), any(_shows(w) for w in widget_objs), _appearance_refs(widget_objs))

    walk(fields, "", 0, None)
    return out


def _shows(widget: Any) -> bool:
    """Whether a widget can put something on the page: an area, not hidden (flag bit 2), and an
    appearance that draws something (an empty signature field's box draws nothing)."""
    try:
        x1, y1, x2, y2 = (float(v) for v in _get(widget, "/Rect", []))
        hidden = int(_get(widget, "/F", 0)) & 2
        normal = _get(_get(widget, "/AP"), "/N")
        if isinstance(normal, generic.StreamObject):
            draws = bool(normal.data.strip())
        else:  # no appearance: a viewer draws a text field's value itself, a signature field nothing
            draws = _get(widget, "/FT") != "/Sig" or normal is not None
    except Exception:  # unreadable: assume the worst
        return True
    return abs(x2 - x1) * abs(y2 - y1) > 0 and not hidden and draws


def _appearance_refs(widgets: list[Any]) -> set[tuple[int, int]]:
    """Everything the widgets' appearances reach (forms, their resources, fonts, images): part of the
    field they belong to. Bounded: hostile files nest without end."""
    refs: set[tuple[int, int]] = set()
    todo: list[tuple[Any, int]] = []
    for widget in widgets:
        try:
            obj = widget.get_object()
            if "/AP" in obj:
                todo.append((obj.raw_get("/AP"), 0))
        except Exception:  # noqa: S112 - an unreadable widget has no appearance to account for
            continue
    while todo and len(refs) < MAX_FIELDS:
        raw, depth = todo.pop()
        ref = _ref(raw)
        if ref is not None:
            if ref in refs:
                continue
            refs.add(ref)
        if depth > 12:
            continue
        try:
            value = raw.get_object()
        except Exception:  # noqa: S112 - unreadable: nothing further to follow
            continue
        if isinstance(value, generic.DictionaryObject):  # stream dictionaries included
            todo += [(value.raw_get(k), depth + 1) for k in value if k not in ("/Parent", "/P")]
        elif isinstance(value, generic.ArrayObject):
            todo += [(v, depth + 1) for v in value]
    return refs


def _field_changes(
    old: dict[str, FieldState],
    new: dict[str, FieldState],
    changed: set[tuple[int, int]],
    accounted: set[tuple[int, int]],
) -> list[ChangeInfo]:
    out = []
    for name, (value, widgets, ref, shown, appearance) in new.items():
        before = old.get(name)
        own = set(widgets) | ({ref} if ref else set()) | appearance
        if before is None:
            accounted |= own | ({r for r in [_ref(value)] if r})
            out.append(
                ChangeInfo(
                    kind="form_field_added",
                    name=name,
                    new=_text(value),
                    visible=shown,
                    description=f"form field {name} added"
                    + (f" with value {_text(value)}" if value is not None else ""),
                )
            )
            continue
        old_text, new_text = _text(before[0]), _text(value)
        touched = own & changed
        if old_text != new_text:
            accounted |= touched | ({r for r in [_ref(value)] if r})
            if new_text == "(signature)":
                out.append(
                    ChangeInfo(
                        kind="form_field_signed", name=name, visible=shown, description=f"signature field {name} signed"
                    )
                )
            else:
                out.append(
                    ChangeInfo(
                        kind="form_field",
                        name=name,
                        old=old_text,
                        new=new_text,
                        visible=True,
                        description=f"form field {name}: {old_text} -> {new_text}",
                    )
                )
        elif touched:
            accounted |= touched
            out.append(
                ChangeInfo(
                    kind="form_field_appearance",
                    name=name,
                    visible=shown,
                    description=f"form field {name}: appearance or properties rewritten",
                )
            )
    for name in old.keys() - new.keys():
        out.append(
            ChangeInfo(
                kind="form_field_removed",
                name=name,
                old=_text(old[name][0]),
                visible=True,
                description=f"form field {name} removed",
            )
        )
    return out


def _pages(root: Any) -> Iterator[Any]:
    """Page dictionaries (as IndirectObjects when possible) in order, bounded against hostile trees."""
    count = 0
    stack: list[tuple[Any, int]] = [(root.raw_get("/Pages"), 0)]
    seen: set[tuple[int, int]] = set()
    while stack and count < MAX_PAGES:
        raw, depth = stack.pop()
        ref = _ref(raw)
        if ref in seen or depth > MAX_DEPTH:
            continue
        if ref:
            seen.add(ref)
        try:
            node = raw.get_object()
            kind = _get(node, "/Type")
        except Exception:  # noqa: S112 - an unreadable node holds no pages (hostile input)
            continue
        if kind == "/Pages" or ("/Kids" in node and kind != "/Page"):
            kids = _get(node, "/Kids") or []
            stack += [(k, depth + 1) for k in reversed(list(kids))]
        else:
            count += 1
            yield raw


def _annots(page: Any) -> dict[tuple[int, int] | int, Any]:
    try:
        annots = _get(page.get_object(), "/Annots") or []
    except Exception:
        return {}
    return {(_ref(a) or i): a for i, a in enumerate(annots)}


def _annot_text(annot: Any) -> str:
    try:
        obj = annot.get_object()
        subtype = str(_get(obj, "/Subtype", "/?"))[1:]
        rect = [round(float(v)) for v in _get(obj, "/Rect", [])]
        contents = _get(obj, "/Contents") or _get(obj, "/T")
    except Exception:
        return "annotation"
    text = f"{subtype} at {rect}"
    return text + (f" ({_text(contents)})" if contents is not None else "")


def _page_changes(
    old: list[Any], new: list[Any], changed: set[tuple[int, int]], accounted: set[tuple[int, int]]
) -> list[ChangeInfo]:
    out = []
    old_refs = [_ref(p) for p in old]
    for number, page in enumerate(new, start=1):
        ref = _ref(page)
        if ref is None or ref not in old_refs:
            out.append(ChangeInfo(kind="page_added", page=number, visible=True, description=f"page {number} added"))
            continue
        before = _annots(old[old_refs.index(ref)])
        after = _annots(page)
        for key, annot in after.items():
            widget = _is_widget(annot)
            if key not in before:
                if isinstance(key, tuple):
                    accounted.add(key)
                if widget:
                    continue  # reported with its form field
                out.append(
                    ChangeInfo(
                        kind="annotation_added",
                        page=number,
                        visible=True,
                        description=f"page {number}: annotation added: {_annot_text(annot)}",
                    )
                )
            elif isinstance(key, tuple) and key in changed and not widget:
                accounted.add(key)
                out.append(
                    ChangeInfo(
                        kind="annotation_changed",
                        page=number,
                        visible=True,
                        description=f"page {number}: annotation changed: {_annot_text(annot)}",
                    )
                )
        for key, annot in before.items():
            if key not in after:
                out.append(
                    ChangeInfo(
                        kind="annotation_removed",
                        page=number,
                        visible=True,
                        description=f"page {number}: annotation removed: {_annot_text(annot)}",
                    )
                )
        drawn = _drawing_refs(page) & changed
        if drawn:
            accounted |= drawn
            out.append(
                ChangeInfo(
                    kind="page_changed",
                    page=number,
                    visible=True,
                    description=f"page {number}: {len(drawn)} content stream(s), image(s) or "
                    "form(s) it draws rewritten",
                )
            )
        if ref in changed:
            accounted.add(ref)
            keys = _page_keys_changed(old[old_refs.index(ref)], page)
            if keys:
                out.append(
                    ChangeInfo(
                        kind="page_changed",
                        page=number,
                        visible=True,
                        description=f"page {number}: {', '.join(keys)} changed",
                    )
                )
    if len(new) < len(old):
        out.append(ChangeInfo(kind="page_removed", visible=True, description=f"{len(old) - len(new)} page(s) removed"))
    return out


def _drawing_refs(page: Any) -> set[tuple[int, int]]:
    """What a page draws: its content streams, its resources and the XObjects and fonts they name."""
    refs: set[tuple[int, int]] = set()
    try:
        node = page.get_object()
        contents = node.raw_get("/Contents") if "/Contents" in node else None
        if (r := _ref(contents)) is not None:
            refs.add(r)
        if contents is not None and isinstance(contents.get_object(), generic.ArrayObject):
            refs |= {x for x in (_ref(c) for c in contents.get_object()) if x}
        resources = node.raw_get("/Resources") if "/Resources" in node else None
        if (r := _ref(resources)) is not None:
            refs.add(r)
        if resources is not None:
            for kind in ("/XObject", "/Font", "/ExtGState", "/Pattern", "/Shading"):
                group = _get(resources, kind)
                if isinstance(group, generic.DictionaryObject):
                    refs |= {x for x in (_ref(group.raw_get(k)) for k in group) if x}
    except Exception:  # noqa: S110 - an unreadable page draws nothing we can name
        pass
    return refs


def _page_keys_changed(old: Any, new: Any) -> list[str]:
    """Entries of a page dictionary (other than /Annots) whose value changed: /Contents, /Resources, ..."""
    try:
        before, after = old.get_object(), new.get_object()
        keys = (set(before.keys()) | set(after.keys())) - {"/Annots"}
        return sorted(
            str(k)
            for k in keys
            if repr(before.raw_get(k) if k in before else None) != repr(after.raw_get(k) if k in after else None)
        )
    except Exception:  # unreadable: say the page changed
        return ["page dictionary"]


def _is_widget(annot: Any) -> bool:
    try:
        return bool(_get(annot, "/Subtype") == "/Widget")
    except Exception:
        return False


def _catalog_changes(
    old_root: Any,
    new_root: Any,
    old_trailer: Any,
    new_trailer: Any,
    changed: set[tuple[int, int]],
    accounted: set[tuple[int, int]],
) -> list[ChangeInfo]:
    out = []
    old_dss, new_dss = _get(old_root, "/DSS"), _get(new_root, "/DSS")
    if new_dss is not None:
        counts = [(k, len(_get(new_dss, k) or []) - len(_get(old_dss, k) or [])) for k in ("/Certs", "/OCSPs", "/CRLs")]
        added = ", ".join(f"{n} {k[1:]}" for k, n in counts if n)
        dss_refs = _dss_refs(new_root)
        if (dss_refs & changed) or old_dss is None:
            accounted |= dss_refs & changed
            out.append(
                ChangeInfo(
                    kind="dss",
                    visible=False,
                    description="validation data (DSS) "
                    + ("added" if old_dss is None else "updated")
                    + (f": {added}" if added else ""),
                )
            )
    for key, label in (("/Metadata", "XMP metadata"), ("/AcroForm", "form dictionary")):
        ref = _ref(new_root.raw_get(key)) if key in new_root else None
        if ref and ref in changed:
            accounted.add(ref)
            if key == "/Metadata":
                out.append(ChangeInfo(kind="metadata", visible=False, description=f"{label} updated"))
    info = _ref(new_trailer.raw_get("/Info")) if "/Info" in new_trailer else None
    if info and info in changed:
        accounted.add(info)
        old_info = _ref(old_trailer.raw_get("/Info")) if "/Info" in old_trailer else None
        out.append(
            ChangeInfo(
                kind="metadata",
                visible=False,
                description="document information (/Info) " + ("updated" if old_info else "added"),
            )
        )
    return out


def _dss_refs(root: Any) -> set[tuple[int, int]]:
    refs: set[tuple[int, int]] = set()
    dss_raw = root.raw_get("/DSS") if "/DSS" in root else None
    if dss_raw is None:
        return refs
    if (r := _ref(dss_raw)) is not None:
        refs.add(r)
    dss = dss_raw.get_object()
    for key in ("/Certs", "/OCSPs", "/CRLs", "/VRI"):
        raw = dss.raw_get(key) if key in dss else None
        if raw is None:
            continue
        if (r := _ref(raw)) is not None:
            refs.add(r)
        value = raw.get_object()
        items = value.values() if isinstance(value, generic.DictionaryObject) else value
        for item in items:
            if (r := _ref(item)) is not None:
                refs.add(r)
            inner = item.get_object()
            if isinstance(inner, generic.DictionaryObject):  # a VRI entry
                for sub in inner.values():
                    if (r := _ref(sub)) is not None:
                        refs.add(r)
                    if isinstance(sub.get_object(), generic.ArrayObject):
                        refs |= {x for x in (_ref(s) for s in sub.get_object()) if x}
    return refs


def render_differences(signed: bytes, current: bytes) -> list[int]:
    """Page numbers (1 = first) whose rendering differs between two revisions, pages added included.

    Both are rendered in grey at a low resolution with Poppler's ``pdftoppm`` (the first
    :data:`MAX_RENDER_PAGES`); a page counts as different when its pixels differ at all.
    Raises :class:`subprocess.TimeoutExpired` or :class:`OSError` when Poppler cannot render in time.
    """
    with tempfile.TemporaryDirectory(prefix="esign-visual-") as tmp:
        folder = Path(tmp)
        before = _render(signed, folder, "a")
        after = _render(current, folder, "b")
    return [n for n in range(1, len(after) + 1) if n > len(before) or before[n - 1] != after[n - 1]]


def _render(data: bytes, folder: Path, stem: str) -> list[bytes]:
    source = folder / f"{stem}.pdf"
    source.write_bytes(data)
    subprocess.run(
        [
            "pdftoppm",
            "-q",
            "-gray",
            "-r",
            str(RENDER_DPI),
            "-l",
            str(MAX_RENDER_PAGES),
            str(source),
            str(folder / stem),
        ],
        check=False,
        capture_output=True,
        timeout=RENDER_TIMEOUT,
    )
    pages = sorted(folder.glob(f"{stem}-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return [p.read_bytes() for p in pages]
