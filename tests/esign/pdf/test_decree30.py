"""Decree 30/2020/NĐ-CP presets, checked by tools we did not write: pdfsig, pyHanko's validator,
pdftoppm (pixels) and pdftotext (text lines)."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import pdfsig
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from esign.errors import InvalidInput
from esign.pdf.adapter import to_asn1
from esign.pdf.decree30 import (
    AGENCY,
    ATTACHMENT,
    COPY,
    MM,
    PERSON,
    SCAN,
    Position,
    check_reports,
    describe_signatures,
    plan,
    sign_decree30,
)
from esign.pdf.verify import verify_pdf

ROOT = Path(__file__).resolve().parents[3]
LETTER = ROOT / "samples" / "cong-van.pdf"
SIGNATURE_PNG = ROOT / "samples" / "decree30" / "chu-ky.png"
SEAL_PNG = ROOT / "samples" / "decree30" / "con-dau.png"
PAGE_HEIGHT = 842
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00")


def render(pdf: Path, tmp_path: Path) -> Image.Image:
    """Page 1 at 72 dpi: one pixel per point."""
    prefix = tmp_path / f"{pdf.stem}-render"
    subprocess.run(
        ["pdftoppm", "-r", "72", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix)],
        check=True,
        timeout=60,
    )
    return Image.open(f"{prefix}.png").convert("RGB")


def pixels(image: Image.Image, box: tuple[float, float, float, float]) -> list[tuple[int, int, int]]:
    """The pixels inside a PDF-coordinate box."""
    x1, y1, x2, y2 = box
    crop = image.crop((round(x1), round(PAGE_HEIGHT - y2), round(x2), round(PAGE_HEIGHT - y1)))
    return list(crop.getdata())  # type: ignore[arg-type]


def blue(p: tuple[int, int, int]) -> bool:
    return p[2] > 110 and p[2] > p[0] + 60 and p[2] > p[1] + 40


def red(p: tuple[int, int, int]) -> bool:
    return p[0] > 150 and p[0] > p[1] + 80 and p[0] > p[2] + 80


def words(pdf: Path) -> list[tuple[str, float, float, float, float]]:
    """pdftotext's words with their boxes (top-left origin, as pdftotext gives them)."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    pattern = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
    return [(m[5], float(m[1]), float(m[2]), float(m[3]), float(m[4])) for m in pattern.finditer(out)]


def pyhanko_status(data: bytes, index: int, root: Path):  # type: ignore[no-untyped-def]
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(root.read_bytes())
    sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[index]
    return validate_pdf_signature(sig, ValidationContext(trust_roots=[to_asn1(cert)], allow_fetching=True))


@pytest.fixture(scope="module")
def issued(dev_pki, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The sample letter signed by the person, then by the agency: (person-only, both, plans)."""
    folder = tmp_path_factory.mktemp("decree30")
    person = dev_pki.signer("person-rsa2048")
    agency = dev_pki.signer("org-rsa2048")
    letter = LETTER.read_bytes()
    person_plan = plan(letter, person.certificate, preset=PERSON, image=SIGNATURE_PNG)
    first = folder / "person.pdf"
    sign_decree30(letter, first, person, preset=PERSON, image=SIGNATURE_PNG)
    agency_plan = plan(first.read_bytes(), agency.certificate, preset=AGENCY, image=SEAL_PNG)
    second = folder / "issued.pdf"
    before = datetime.now().astimezone()
    sign_decree30(first, second, agency, preset=AGENCY, image=SEAL_PNG)
    return first, second, person_plan, agency_plan, before


def test_two_signatures_are_valid_for_pdfsig_and_the_first_is_not_total(issued, nss_db):  # type: ignore[no-untyped-def]
    _, second, *_ = issued
    report = pdfsig(second, nss_db)
    assert report.count("Signature is Valid") == 2
    first_part, second_part = report.split("Signature #2")
    assert "Not total document signed" in first_part
    assert "Total document signed" in second_part and "Not total" not in second_part
    assert "Nguyễn Văn An" in first_part
    assert "Sở Thông tin và Truyền thông" in second_part


def test_pyhanko_finds_both_intact_and_the_agency_update_allowed(issued, dev_pki):  # type: ignore[no-untyped-def]
    _, second, *_ = issued
    data = second.read_bytes()
    person = pyhanko_status(data, 0, dev_pki.root_pem_path)
    agency = pyhanko_status(data, 1, dev_pki.root_pem_path)
    assert person.intact and person.valid and person.trusted
    assert agency.intact and agency.valid and agency.trusted
    assert person.coverage is SignatureCoverageLevel.ENTIRE_REVISION
    assert agency.coverage is SignatureCoverageLevel.ENTIRE_FILE
    # What the agency's update did to the person's revision is allowed: a new signature, nothing else.
    assert person.docmdp_ok
    assert person.modification_level <= ModificationLevel.FORM_FILLING


def test_our_verifier_passes_both_and_names_roles_and_presets(issued, dev_pki):  # type: ignore[no-untyped-def]
    _, second, *_ = issued
    reports = verify_pdf(second, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert [r.passed for r in reports] == [True, True]
    described = describe_signatures(second)
    assert [(d.role, d.preset) for d in described] == [("person", PERSON), ("agency", AGENCY)]


def test_signature_image_is_blue_and_between_the_position_line_and_the_name(issued, tmp_path):  # type: ignore[no-untyped-def]
    first, _, person_plan, _, _ = issued
    page = render(first, tmp_path)
    box = person_plan.image_box
    inside = pixels(page, box)
    assert sum(map(blue, inside)) > 0.03 * len(inside)
    assert not any(map(red, inside))
    found = {w[0].split()[0]: w for w in words(first)}  # pdftotext may keep a line as one word
    name, position = found["Nguyễn"], found["PHÓ"]
    name_top = PAGE_HEIGHT - name[2]
    position_bottom = PAGE_HEIGHT - position[4]
    assert name_top < box[1] < box[3] < position_bottom
    # Centred between the two lines (within a point of rounding), and on the name's column.
    assert abs((box[1] + box[3]) / 2 - (name_top + position_bottom) / 2) <= 1.5
    name_centre = (name[1] + max(w[3] for w in words(first) if w[4] == name[4])) / 2
    assert abs((box[0] + box[2]) / 2 - name_centre) <= 1.5
    # Nothing blue outside the signature block (the rest of the letter is black).
    outside = pixels(page, (0, box[3] + 5, 595, 842))
    assert not any(map(blue, outside))


def test_seal_is_red_real_size_and_covers_the_left_third_of_the_signature(issued, tmp_path):  # type: ignore[no-untyped-def]
    _, second, person_plan, agency_plan, _ = issued
    page = render(second, tmp_path)
    seal = agency_plan.image_box
    # Real size: the PNG is 36 mm across at the 300 dpi it declares.
    assert seal[2] - seal[0] == pytest.approx(36 * MM, abs=0.5)
    sx1, sy1, sx2, sy2 = person_plan.image_box
    third = sx1 + (sx2 - sx1) / 3
    assert seal[2] == pytest.approx(third, abs=1.5)
    assert seal[0] < sx1  # to its left
    left_third = pixels(page, (sx1, sy1, third - 2, sy2))
    rest = pixels(page, (third + 3, sy1, sx2, sy2))
    assert sum(map(red, left_third)) > 0.02 * len(left_third)
    assert not any(map(red, rest))
    assert sum(map(blue, rest)) > 0.02 * len(rest)  # the signature is still there beside the seal


def test_agency_text_names_the_agency_and_the_time_with_vietnam_offset(issued):  # type: ignore[no-untyped-def]
    _, second, _, agency_plan, before = issued
    texts = [w for w in words(second) if ISO.fullmatch(w[0])]
    assert len(texts) == 1
    text, x1, top, x2, _ = texts[0]
    shown = datetime.fromisoformat(text)
    assert timedelta(seconds=-1) <= shown - before.replace(microsecond=0) <= timedelta(seconds=30)
    seal = agency_plan.image_box
    assert PAGE_HEIGHT - top < seal[1]  # under the seal
    assert x1 < (seal[0] + seal[2]) / 2 < x2  # and centred on it
    line = subprocess.run(["pdftotext", str(second), "-"], capture_output=True, text=True, check=True).stdout
    assert "Sở Thông tin và Truyền thông tỉnh Quảng Ninh" in line
    # The CMS signing time agrees with the text shown (same second, or the next).
    sig = PdfFileReader(io.BytesIO(second.read_bytes())).embedded_signatures[1]
    assert abs((sig.self_reported_timestamp - shown).total_seconds()) < 2


def test_agency_step_on_an_unsigned_document_is_refused(dev_pki):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="already signed"):
        sign_decree30(LETTER.read_bytes(), None, dev_pki.signer("org-rsa2048"), preset=AGENCY, image=SEAL_PNG)


def test_agency_step_on_a_signature_without_image_is_refused(dev_pki):  # type: ignore[no-untyped-def]
    from esign.pdf.signing import sign_pdf

    signed = sign_pdf(LETTER.read_bytes(), None, dev_pki.signer("person-rsa2048"), visible=(1, (300, 100, 500, 160)))
    assert signed is not None
    with pytest.raises(InvalidInput, match="no signed field shows a signature image"):
        sign_decree30(signed, None, dev_pki.signer("org-rsa2048"), preset=AGENCY, image=SEAL_PNG)


@pytest.mark.parametrize(
    ("preset", "extra", "expected"),
    [
        (ATTACHMENT, {"document_number": "125/STP-HCTP"}, ["125/STP-HCTP"]),
        (COPY, {"copy_form": "sao y"}, ["SAO Y", "Sở Thông tin và Truyền thông tỉnh Quảng Ninh"]),
    ],
)
def test_attachment_and_copy_are_black_times_10pt_text_at_the_top_right(dev_pki, tmp_path, preset, extra, expected):  # type: ignore[no-untyped-def]
    out = tmp_path / "marked.pdf"
    sign_decree30(LETTER.read_bytes(), out, dev_pki.signer("org-rsa2048"), preset=preset, **extra)
    lines = subprocess.run(
        ["pdftotext", "-layout", "-f", "1", "-l", "1", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    head = [line.strip() for line in lines[: len(expected) + 1]]
    assert head[: len(expected)] == expected
    assert ISO.fullmatch(head[len(expected)])
    boxes = [w for w in words(out) if w[4] < 55]  # above the letter's own header; pdftotext: y=0 at the top
    assert boxes and all(w[1] > 595 / 2 for w in boxes)  # right half
    assert 595 - 20 * MM - 5 <= max(w[3] for w in boxes) <= 595 - 20 * MM  # 20 mm from the right edge
    heights = {round(w[4] - w[2], 1) for w in boxes}
    assert heights == {11.1}  # Tinos 10 pt: ascent + descent = 1.107 em, as Times New Roman's
    page = render(out, tmp_path)
    region = pixels(page, (595 / 2, 842 - 60, 595, 842))
    assert not any(map(red, region)) and not any(map(blue, region))  # no image, black text
    assert min(sum(p) for p in region) < 150
    [described] = describe_signatures(out)
    assert (described.role, described.preset) == ("agency", preset)


def test_scan_puts_the_red_seal_real_size_at_the_top_right_of_page_one(dev_pki, nss_db, tmp_path):  # type: ignore[no-untyped-def]
    """A digitised paper document: the agency signs alone, its seal at the top right of the first page."""
    from typer.testing import CliRunner

    from esign.pdf.cli import app

    out = tmp_path / "scan.pdf"
    org_key = str(dev_pki.p12_path("org-rsa2048"))
    result = CliRunner().invoke(
        app,
        ["sign", str(LETTER), "-o", str(out), "--key", org_key, "--preset", SCAN, "--image", str(SEAL_PNG)],
        env={"ESIGN_KEY_PASSWORD": dev_pki.password},
    )
    assert result.exit_code == 0, result.output
    report = pdfsig(out, nss_db)
    assert report.count("Signature is Valid") == 1 and "Total document signed" in report
    assert "Not total" not in report

    chosen = plan(LETTER.read_bytes(), dev_pki.signer("org-rsa2048").certificate, preset=SCAN, image=SEAL_PNG)
    seal = chosen.image_box
    assert seal is not None
    assert seal[2] - seal[0] == pytest.approx(36 * MM, abs=0.5)  # real size, as the PNG declares
    assert seal[0] > 595 / 2 and seal[3] == pytest.approx(842 - 4 * MM, abs=1)  # top right of page 1
    page = render(out, tmp_path)
    top_right = pixels(page, seal)
    assert sum(map(red, top_right)) > 0.05 * len(top_right)
    # Nowhere else: the left half, and everything under the mark, has no red.
    assert not any(map(red, pixels(page, (0, 0, 595 / 2 - 1, 842))))
    assert not any(map(red, pixels(page, (0, 0, 595, seal[1] - 40))))
    # The agency and the time in ISO 8601 with +07:00, under the seal, centred on it.
    found = words(out)
    times = [w for w in found if ISO.fullmatch(w[0])]
    assert len(times) == 1
    _, x1, top, x2, _ = times[0]
    assert 842 - top < seal[1] and x1 < (seal[0] + seal[2]) / 2 < x2
    head = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-x", "297", "-y", "0", "-W", "298", "-H", "200", str(out), "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "Sở Thông tin và Truyền thông tỉnh Quảng Ninh" in " ".join(head.split())
    [described] = describe_signatures(out)
    assert (described.role, described.preset) == ("agency", SCAN)
    reports = verify_pdf(out, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    [check] = check_reports(reports, out)
    assert (check.preset, check.passed, check.problems) == (SCAN, True, ())


def test_scan_needs_the_seal_image(dev_pki):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="seal image"):
        sign_decree30(LETTER.read_bytes(), None, dev_pki.signer("org-rsa2048"), preset=SCAN)


def test_copy_needs_a_known_copy_form_and_attachment_a_number(dev_pki):  # type: ignore[no-untyped-def]
    signer = dev_pki.signer("org-rsa2048")
    with pytest.raises(InvalidInput, match="copy form"):
        sign_decree30(LETTER.read_bytes(), None, signer, preset=COPY, copy_form="BẢN CHỤP")
    with pytest.raises(InvalidInput, match="number"):
        sign_decree30(LETTER.read_bytes(), None, signer, preset=ATTACHMENT)
    with pytest.raises(InvalidInput, match="unknown preset"):
        sign_decree30(LETTER.read_bytes(), None, signer, preset="decree30.stamp")


def letter_with_marker(marker: str, *, pages_before: int = 0) -> bytes:
    """A PDF whose last page has a position line, a marker in the blank space, and a name (Helvetica,
    ASCII); ``pages_before`` pages before it quote the marker and the name in their text."""
    block = [(400, 300, "GIAM DOC"), (410, 240, marker), (400, 160, "Tran Thi Binh")]
    quoted = [(72, 700, f"See {marker} and Tran Thi Binh")]
    contents = [quoted] * pages_before + [block]
    count = len(contents)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for lines in contents:
        content = b" ".join(b"BT /F1 12 Tf %d %d Td (%s) Tj ET" % (x, y, t.encode()) for x, y, t in lines)
        page_id, stream_id = len(objects) + 1, len(objects) + 2
        kids.append(page_id)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (stream_id, 3 + 2 * count)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), count)
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_the_last_page_with_the_name_or_marker_is_the_signature_block(dev_pki) -> None:  # type: ignore[no-untyped-def]
    letter = letter_with_marker("[[CHU_KY]]", pages_before=2)
    cert = dev_pki.signer("person-p256").certificate
    by_marker = plan(letter, cert, preset=PERSON, image=SIGNATURE_PNG, marker="[[CHU_KY]]")
    by_name = plan(letter, cert, preset=PERSON, image=SIGNATURE_PNG, signer_name="Tran Thi Binh")
    assert by_marker.appearance.page == by_name.appearance.page == 3
    assert by_marker.image_box is not None and 160 < by_marker.image_box[1]


def test_marker_places_the_signature_in_the_gap_around_it(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    letter = letter_with_marker("[[CHU_KY]]")
    signer = dev_pki.signer("person-p256")
    chosen = plan(letter, signer.certificate, preset=PERSON, image=SIGNATURE_PNG, marker="[[chu_ky]]")
    _, y1, _, y2 = chosen.image_box
    assert 160 + 8 < y1 and y2 < 300  # between the name's top and the position line
    assert (y1 + y2) / 2 == pytest.approx((160 + 9 + 300) / 2, abs=3)
    out = tmp_path / "marker.pdf"
    sign_decree30(letter, out, signer, preset=PERSON, image=SIGNATURE_PNG, marker="[[chu_ky]]")
    inside = pixels(render(out, tmp_path), chosen.image_box)
    assert sum(map(blue, inside)) > 0.03 * len(inside)


def test_missing_marker_or_name_is_refused(dev_pki):  # type: ignore[no-untyped-def]
    signer = dev_pki.signer("person-p256")
    with pytest.raises(InvalidInput, match="marker"):
        plan(letter_with_marker("x"), signer.certificate, preset=PERSON, image=SIGNATURE_PNG, marker="[[KY]]")
    with pytest.raises(InvalidInput, match="printed name"):
        plan(letter_with_marker("x"), signer.certificate, preset=PERSON, image=SIGNATURE_PNG)


def test_explicit_position_and_seal_width(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    signer = dev_pki.signer("person-p256")
    one = sign_decree30(
        LETTER.read_bytes(),
        None,
        signer,
        preset=PERSON,
        image=SIGNATURE_PNG,
        position=Position(1, (100, 100, 250, 160)),
    )
    assert one is not None
    chosen = plan(one, dev_pki.signer("org-p256").certificate, preset=AGENCY, image=SEAL_PNG, seal_width_mm=30)
    assert chosen.image_box is not None
    assert chosen.image_box[2] - chosen.image_box[0] == pytest.approx(30 * MM, abs=0.5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a....", "must be a PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot be read"),
        (None, "no transparency"),
    ],
)
def test_bad_images_are_refused(dev_pki, data, message):  # type: ignore[no-untyped-def]
    if data is None:
        buffer = io.BytesIO()
        Image.new("RGB", (60, 20), (0, 0, 255)).save(buffer, "PNG")
        data = buffer.getvalue()
    with pytest.raises(InvalidInput, match=message):
        plan(LETTER.read_bytes(), dev_pki.signer("person-p256").certificate, preset=PERSON, image=data)


def test_seal_without_resolution_needs_a_width(dev_pki):  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    Image.new("RGBA", (100, 100), (255, 0, 0, 128)).save(buffer, "PNG")
    signer = dev_pki.signer("person-p256")
    one = sign_decree30(LETTER.read_bytes(), None, signer, preset=PERSON, image=SIGNATURE_PNG)
    assert one is not None
    with pytest.raises(InvalidInput, match="real width"):
        plan(one, dev_pki.signer("org-p256").certificate, preset=AGENCY, image=buffer.getvalue())


def test_an_organization_using_the_person_preset_is_not_reported_as_a_person(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    out = tmp_path / "org-as-person.pdf"
    sign_decree30(
        LETTER.read_bytes(),
        out,
        dev_pki.signer("org-p256"),
        preset=PERSON,
        image=SIGNATURE_PNG,
        signer_name="Nguyễn Văn An",
    )
    [described] = describe_signatures(out)
    assert described.role == "agency" and described.preset is None


def test_check_reports_accepts_the_two_step_order(issued, dev_pki):  # type: ignore[no-untyped-def]
    _, second, *_ = issued
    reports = verify_pdf(second, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    checks = check_reports(reports, second)
    assert [(c.role, c.preset, c.passed, c.problems) for c in checks] == [
        ("person", PERSON, True, ()),
        ("agency", AGENCY, True, ()),
    ]


def seal_over_an_organization_signature(issued, dev_pki, out: Path) -> None:  # type: ignore[no-untyped-def]
    """An organization puts a signature image where the person signs, then a seal goes over it (built
    with another tool: sign_decree30 refuses it): it looks right on paper, but no person signed."""
    from esign.pdf.signing import sign_pdf

    _, _, _, agency_plan, _ = issued
    org = dev_pki.signer("org-p256")
    one = sign_decree30(LETTER.read_bytes(), None, org, preset=PERSON, image=SIGNATURE_PNG, signer_name="Nguyễn Văn An")
    assert one is not None
    with pytest.raises(InvalidInput, match="no intact signature by a person"):
        sign_decree30(one, None, dev_pki.signer("org-rsa2048"), preset=AGENCY, image=SEAL_PNG)
    sign_pdf(one, out, dev_pki.signer("org-rsa2048"), appearance=agency_plan.appearance)


def test_agency_step_over_a_forged_person_signature_is_refused(dev_pki) -> None:  # type: ignore[no-untyped-def]
    # A byte the person signed is changed (the header's version): it still looks signed, the
    # signature no longer covers what the file holds.
    one = sign_decree30(LETTER.read_bytes(), None, dev_pki.signer("person-rsa2048"), preset=PERSON, image=SIGNATURE_PNG)
    assert one is not None and one.startswith(b"%PDF-1.7")
    forged = b"%PDF-1.6" + one[8:]
    assert not pyhanko_status(forged, 0, dev_pki.root_pem_path).intact  # pyHanko agrees it is broken
    with pytest.raises(InvalidInput, match="no intact signature by a person"):
        sign_decree30(forged, None, dev_pki.signer("org-rsa2048"), preset=AGENCY, image=SEAL_PNG)


def test_check_reports_flags_an_agency_seal_over_an_agency_signature(issued, dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    out = tmp_path / "no-person.pdf"
    seal_over_an_organization_signature(issued, dev_pki, out)
    reports = verify_pdf(out, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    checks = check_reports(reports, out)
    assert checks[1].preset == AGENCY
    assert checks[1].problems == ("the agency's signature comes before any person's signature",)


def test_cli_signs_person_then_agency_and_refuses_the_agency_first(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from esign.pdf.cli import app

    runner = CliRunner()
    env = {"ESIGN_KEY_PASSWORD": dev_pki.password}
    first, second = tmp_path / "1.pdf", tmp_path / "2.pdf"
    person_key, org_key = str(dev_pki.p12_path("person-rsa2048")), str(dev_pki.p12_path("org-rsa2048"))
    result = runner.invoke(
        app,
        ["sign", str(LETTER), "-o", str(first), "--key", person_key, "--preset", PERSON, "--image", str(SIGNATURE_PNG)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    refused = runner.invoke(
        app,
        ["sign", str(LETTER), "-o", str(second), "--key", org_key, "--preset", AGENCY, "--image", str(SEAL_PNG)],
        env=env,
    )
    assert refused.exit_code == 2 and "already signed" in refused.output
    result = runner.invoke(
        app,
        ["sign", str(first), "-o", str(second), "--key", org_key, "--preset", AGENCY, "--image", str(SEAL_PNG)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert [(d.role, d.preset) for d in describe_signatures(second)] == [("person", PERSON), ("agency", AGENCY)]
    conflicting = runner.invoke(
        app, ["sign", str(LETTER), "-o", str(second), "--key", org_key, "--preset", COPY, "--certify", "2"], env=env
    )
    assert conflicting.exit_code == 2


def test_person_signs_into_an_existing_empty_field(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    writer = IncrementalPdfFileWriter(io.BytesIO(LETTER.read_bytes()))
    append_signature_field(writer, SigFieldSpec("ChuKyLanhDao", on_page=0, box=(380, 120, 520, 200)))
    buffer = io.BytesIO()
    writer.write(buffer)
    out = tmp_path / "field.pdf"
    signer = dev_pki.signer("person-rsa2048")
    chosen = plan(buffer.getvalue(), signer.certificate, preset=PERSON, image=SIGNATURE_PNG, field_name="ChuKyLanhDao")
    sign_decree30(buffer.getvalue(), out, signer, preset=PERSON, image=SIGNATURE_PNG, field_name="ChuKyLanhDao")
    [described] = describe_signatures(out)
    assert (described.field_name, described.role, described.preset) == ("ChuKyLanhDao", "person", PERSON)
    x1, y1, x2, y2 = chosen.image_box
    assert 380 <= x1 < x2 <= 520 and 120 <= y1 < y2 <= 200
    inside = pixels(render(out, tmp_path), chosen.image_box)
    assert sum(map(blue, inside)) > 0.03 * len(inside)
    with pytest.raises(InvalidInput, match="no empty visible signature field"):
        plan(out.read_bytes(), signer.certificate, preset=PERSON, image=SIGNATURE_PNG, field_name="ChuKyLanhDao")


def test_check_reports_flags_a_person_signature_changed_before_the_seal(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    # Someone draws on the page after the person signed, then the clerk seals: the seal's own
    # signature is valid, but the person's no longer covers what the page shows.
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    one = sign_decree30(LETTER.read_bytes(), None, dev_pki.signer("person-rsa2048"), preset=PERSON, image=SIGNATURE_PNG)
    assert one is not None
    writer = IncrementalPdfFileWriter(io.BytesIO(one))
    stream = writer.add_object(generic.StreamObject(stream_data=b"q 0 0 0 rg 100 500 200 20 re f Q"))
    writer.add_stream_to_page(0, stream)
    changed = io.BytesIO()
    writer.write(changed)
    out = tmp_path / "changed.pdf"
    sign_decree30(changed.getvalue(), out, dev_pki.signer("org-rsa2048"), preset=AGENCY, image=SEAL_PNG)
    reports = verify_pdf(out, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    checks = check_reports(reports, out)
    assert checks[0].passed is False or reports[0].modifications_allowed is False
    assert checks[1].preset == AGENCY
    assert checks[1].problems == ("no earlier person's signature is valid and intact",)


def test_text_drawn_decomposed_matches_a_precomposed_name() -> None:
    from esign.pdf.decree30 import TextLine, find_text

    # "Tiến" drawn as T, i, e, combining circumflex, combining acute, n: one glyph each.
    glyphs = ["T", "i", "e", "\u0302", "\u0301", "n"]
    chars = tuple((g, (10.0 * i, 0.0, 10.0 * i + 8, 10.0)) for i, g in enumerate(glyphs))
    line = TextLine(1, "".join(glyphs), (0, 0, 60, 10), chars)
    [hit] = find_text([line], "TIẾN")
    assert hit.box == (0.0, 0.0, 58.0, 10.0)
    assert find_text([line], "Tien") == []


def test_staged_signing_takes_a_preset_and_the_seal_follows(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    # The server's path: plan, prepare (digest to the phone), finish; then the agency's step the same way.
    from esign.pdf import finish, prepare

    person, agency = dev_pki.signer("person-p256"), dev_pki.signer("org-p256")
    letter = LETTER.read_bytes()
    chosen = plan(letter, person.certificate, preset=PERSON, image=SIGNATURE_PNG)
    digest, state = prepare(letter, person.certificate, person.chain, appearance=chosen.appearance)
    one = finish(state, person.sign_digest_sync(digest, state.algorithm))
    sealed = plan(one, agency.certificate, preset=AGENCY, image=SEAL_PNG)
    digest, state = prepare(one, agency.certificate, agency.chain, appearance=sealed.appearance)
    out = tmp_path / "staged.pdf"
    out.write_bytes(finish(state, agency.sign_digest_sync(digest, state.algorithm)))
    reports = verify_pdf(out, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert [(c.role, c.preset, c.passed, c.problems) for c in check_reports(reports, out)] == [
        ("person", PERSON, True, ()),
        ("agency", AGENCY, True, ()),
    ]
    page = render(out, tmp_path)
    assert sum(map(red, pixels(page, sealed.image_box))) > 0
    assert sum(map(blue, pixels(page, chosen.image_box))) > 0


def test_preview_shows_the_mark_where_it_will_go_without_changing_the_document(issued, dev_pki):  # type: ignore[no-untyped-def]
    from esign.pdf.decree30 import preview

    first, _, person_plan, agency_plan, _ = issued
    data = first.read_bytes()
    before = bytes(data)
    png = Image.open(io.BytesIO(preview(data, agency_plan, dpi=72, margin=20))).convert("RGB")
    x1, y1, x2, y2 = agency_plan.appearance.box
    assert png.size == (round(x2 - x1) + 40, round(y2 - y1) + 40)
    reds = sum(map(red, png.getdata()))  # type: ignore[arg-type]
    blues = sum(map(blue, png.getdata()))  # type: ignore[arg-type]
    assert reds > 0.02 * png.size[0] * png.size[1]  # the seal
    assert blues > 0  # over the person's signature, already in the document
    assert data == before
    person = Image.open(io.BytesIO(preview(LETTER.read_bytes(), person_plan))).convert("RGB")
    assert sum(map(blue, person.getdata())) > 0  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="dpi"):
        preview(data, agency_plan, dpi=2000)


def test_a_seal_signed_before_the_person_is_not_matched_as_the_agency_preset(issued, dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    # Built with another tool: the agency's seal first, the person's signature after it. It may look
    # the same on screen; the order is wrong, and the seal must not be reported as decree30.agency.
    from esign.pdf.signing import sign_pdf

    _, _, _, agency_plan, _ = issued
    sealed_first = sign_pdf(LETTER.read_bytes(), None, dev_pki.signer("org-rsa2048"), appearance=agency_plan.appearance)
    assert sealed_first is not None
    out = tmp_path / "reversed.pdf"
    sign_decree30(sealed_first, out, dev_pki.signer("person-rsa2048"), preset=PERSON, image=SIGNATURE_PNG)
    reports = verify_pdf(out, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    checks = check_reports(reports, out)
    assert [(c.role, c.preset) for c in checks] == [("agency", None), ("person", PERSON)]
    assert all(c.problems == () for c in checks)


def test_cli_decree30_names_roles_and_presets_and_exits_one_on_a_problem(issued, dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from esign.pdf.cli import app

    runner = CliRunner()
    _, second, *_ = issued
    trust = ["--trust-only", str(dev_pki.root_pem_path), "--fetch"]
    result = runner.invoke(app, ["decree30", str(second), *trust])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Signature1: person, decree30.person, TOTAL-PASSED",
        "Signature2: agency, decree30.agency, TOTAL-PASSED",
    ]
    bad = tmp_path / "no-person.pdf"
    seal_over_an_organization_signature(issued, dev_pki, bad)
    result = runner.invoke(app, ["decree30", str(bad), *trust, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)[1]["problems"] == ["the agency's signature comes before any person's signature"]
    assert runner.invoke(app, ["decree30", str(tmp_path / "missing.pdf"), *trust]).exit_code == 2


def test_cli_verify_names_each_signatures_role_and_preset(issued, dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    """``esign pdf verify`` on a Decree 30 document: the verdicts as ever, then who signed in which role
    with which preset (text, in the report's language, and JSON); a plain signature gets no such section;
    an agency's seal over an organization's signature is named with its problem, the exit code still
    the verdict's."""
    import json

    from typer.testing import CliRunner

    from esign.pdf.cli import app
    from esign.pdf.signing import sign_pdf

    runner = CliRunner()
    _, second, *_ = issued
    trust = ["--trust-only", str(dev_pki.root_pem_path), "--fetch"]
    text = runner.invoke(app, ["verify", str(second), *trust, "--lang", "en"])
    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[-3:] == [
        "Decree 30/2020:",
        "  Signature1: person, decree30.person",
        "  Signature2: agency, decree30.agency",
    ]
    vi = runner.invoke(app, ["verify", str(second), *trust, "--lang", "vi"])
    assert vi.exit_code == 0 and vi.output.splitlines()[-2:] == [
        "  Signature1: cá nhân (person), decree30.person",
        "  Signature2: cơ quan, tổ chức (agency), decree30.agency",
    ]
    answer = runner.invoke(app, ["verify", str(second), *trust, "--json"])
    assert answer.exit_code == 0, answer.output
    document = json.loads(answer.output)
    assert document["indication"] == "TOTAL-PASSED"
    assert [s["decree30"] for s in document["signatures"]] == [
        {"role": "person", "preset": PERSON, "problems": []},
        {"role": "agency", "preset": AGENCY, "problems": []},
    ]

    plain = tmp_path / "plain.pdf"
    sign_pdf(LETTER.read_bytes(), plain, dev_pki.signer("person-rsa2048"), visible=(1, (300, 100, 500, 160)))
    ordinary = runner.invoke(app, ["verify", str(plain), *trust, "--json"])
    assert ordinary.exit_code == 0 and "decree30" not in json.loads(ordinary.output)["signatures"][0]
    assert "Decree 30" not in runner.invoke(app, ["verify", str(plain), *trust, "--lang", "en"]).output

    bad = tmp_path / "no-person.pdf"
    seal_over_an_organization_signature(issued, dev_pki, bad)
    flagged = runner.invoke(app, ["verify", str(bad), *trust, "--lang", "en"])
    assert flagged.exit_code == 0, flagged.output  # both signatures are valid: the order is described
    assert flagged.output.splitlines()[-2:] == [
        "  Signature2: agency, decree30.agency",
        "    problem: the agency's signature comes before any person's signature",
    ]
