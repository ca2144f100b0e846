"""telemed.files: the one content check of every upload (JL-C5, art. 29; issue 8)."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from telemed.errors import ApplicationError
from telemed.files import check_upload, clean_filename, content_type_of, detect_content_type

MZ = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!DOCTYPE html><html><body><script>fetch('/api/v1/patients/')</script></body></html>"


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def test_jl_c5_real_types_are_read_from_the_first_bytes():
    assert detect_content_type(b"%PDF-1.4") == "application/pdf"
    assert detect_content_type(MZ) is None
    assert detect_content_type(SVG) == "text/html"
    assert detect_content_type(HTML) == "text/html"
    assert detect_content_type("体温 38.5℃\n".encode()) == "text/plain"
    assert detect_content_type(b'<?xml version="1.0"?><AnnotatedECG/>') == "text/xml"


def test_jl_c5_script_past_the_first_bytes_of_a_text_file_is_found():
    content = ("病程记录\n" * 2000).encode() + b"<ScRiPt>alert(1)</script>"
    assert detect_content_type(content[:512]) == "text/plain"
    assert content_type_of(io.BytesIO(content)) == "text/html"


@pytest.mark.parametrize(("name", "content"), [("signed.pdf", MZ), ("scan.svg", SVG), ("note.txt", HTML)])
def test_jl_c5_a_program_renamed_pdf_and_html_or_svg_with_script_are_refused(name, content):
    with pytest.raises(ApplicationError) as refused:
        check_upload(upload(name, content), label="签署件")
    assert refused.value.code == "file_type_refused"
    assert refused.value.message.startswith("JL-C5 第二十九条: 签署件的文件类型无法识别或不允许")


def test_jl_c5_stored_names_lose_direction_overrides_zero_width_and_control_characters():
    assert clean_filename("报告\u202efdp.exe") == "报告fdp.exe"
    assert clean_filename("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff同意书\x00\x1b\n.pdf") == "同意书.pdf"
    assert clean_filename("\u202e") == "upload"
    checked = check_upload(upload("同意书\u202efdp.pdf", b"%PDF-1.4 x"), label="签署件")
    assert checked.name == "同意书fdp.pdf" and checked.content_type == "application/pdf" and len(checked.sha256) == 64
