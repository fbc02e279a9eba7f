"""Opening real PDFs: page counts, encryption, passwords and damaged files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pdfjobs import errors
from pdfjobs.pdf.document import PdfInfo, count_pages, inspect_pdf, open_pdf

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
ENCRYPTED = CORPUS / "encrypted"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the test corpus is not at {CORPUS}")

# (file, the password that opens it). The corpus README says r6-both-passwords opens with
# "asdfzxcv"; it does not: its user password is "foo" (and its owner password "bar").
USER_PASSWORD_FILES = [
    ("r2-user-password.pdf", "asdfzxcv"),
    ("r3-user-password.pdf", "asdfzxcv"),
    ("r4-user-password.pdf", "asdfzxcv"),
    ("r4-aes-user-password.pdf", "asdfzxcv"),
    ("r5-user-password.pdf", "asdfzxcv"),
    ("r6-user-password.pdf", "asdfzxcv"),
    ("r6-both-passwords.pdf", "foo"),
    ("crazyones-encrypted-256.pdf", "password"),
    ("libreoffice-writer-password.pdf", "openpassword"),
]
# Encrypted, but readable without a password: only an owner password, or an empty user password.
NO_PASSWORD_NEEDED_FILES = [
    "r2-owner-password.pdf",
    "r4-owner-password.pdf",
    "r5-owner-password.pdf",
    "r6-owner-password.pdf",
    "r2-empty-password.pdf",
    "r3-empty-password.pdf",
    "r4-aes-v2-no-key-length.pdf",
    "r5-empty-password.pdf",
    "r6-empty-password.pdf",
]


def test_every_encrypted_corpus_file_is_covered() -> None:
    covered = {name for name, _ in USER_PASSWORD_FILES} | set(NO_PASSWORD_NEEDED_FILES) | {"unencrypted.pdf"}
    assert {path.name for path in ENCRYPTED.glob("*.pdf")} == covered


def test_plain_pdf() -> None:
    expected = PdfInfo(page_count=1, encrypted=False, needs_password=False)
    assert inspect_pdf(CORPUS / "text" / "crazyones.pdf") == expected
    assert inspect_pdf(str(ENCRYPTED / "unencrypted.pdf")).encrypted is False
    assert count_pages(CORPUS / "scans" / "multipage.pdf", None) == 6
    assert count_pages(CORPUS / "text" / "Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf", None) == 7


def test_a_password_given_for_an_unencrypted_pdf_is_ignored() -> None:
    assert count_pages(ENCRYPTED / "unencrypted.pdf", "whatever") == 1


@pytest.mark.parametrize(("name", "password"), USER_PASSWORD_FILES)
def test_user_password_file(name: str, password: str) -> None:
    path = ENCRYPTED / name
    assert inspect_pdf(path) == PdfInfo(page_count=None, encrypted=True, needs_password=True)
    assert inspect_pdf(path, "not-the-password") == PdfInfo(page_count=None, encrypted=True, needs_password=True)
    assert inspect_pdf(path, password) == PdfInfo(page_count=1, encrypted=True, needs_password=False)

    with open_pdf(path, password) as document:
        assert len(document) == 1
        assert document[0].get_textpage().get_text_range().strip()  # really decrypted: it has text
    assert count_pages(path, password) == 1
    with pytest.raises(errors.PdfPasswordRequired):
        count_pages(path, None)
    with pytest.raises(errors.PdfPasswordRequired):
        count_pages(path, "")  # an empty password is no password
    with pytest.raises(errors.PdfPasswordIncorrect):
        count_pages(path, "not-the-password")


@pytest.mark.parametrize("name", NO_PASSWORD_NEEDED_FILES)
def test_file_that_opens_without_a_password(name: str) -> None:
    path = ENCRYPTED / name
    assert inspect_pdf(path) == PdfInfo(page_count=1, encrypted=True, needs_password=False)
    assert count_pages(path, None) == 1
    # A wrong password does not stop a file that needs none.
    assert count_pages(path, "not-the-password") == 1


@pytest.mark.parametrize("name", ["r2-owner-password.pdf", "r4-owner-password.pdf", "r6-owner-password.pdf"])
def test_owner_password_also_opens(name: str) -> None:
    assert count_pages(ENCRYPTED / name, "asdfzxcv") == 1


def test_r6_owner_password_of_a_file_with_both() -> None:
    assert count_pages(ENCRYPTED / "r6-both-passwords.pdf", "bar") == 1


@pytest.mark.parametrize(
    "path",
    [CORPUS / "hostile" / "invalid.pdf", CORPUS / "hostile" / "lzw_decoder_table_overflow.bin"],
    ids=lambda p: p.name,
)
def test_not_a_pdf(path: Path) -> None:
    with pytest.raises(errors.PdfInvalid, match="not a PDF or it is damaged"):
        inspect_pdf(path)
    with pytest.raises(errors.PdfInvalid):
        count_pages(path, None)


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(errors.PdfInvalid):
        inspect_pdf(empty)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_pdf(tmp_path: Path, fraction: float) -> None:
    data = (CORPUS / "text" / "crazyones.pdf").read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(errors.PdfInvalid):
        inspect_pdf(truncated)
    with pytest.raises(errors.PdfInvalid), open_pdf(truncated):
        pass


def test_text_that_is_not_a_pdf(tmp_path: Path) -> None:
    text = tmp_path / "notes.pdf"
    text.write_text("%PDF-1.7 but nothing else\n")
    with pytest.raises(errors.PdfInvalid):
        count_pages(text, None)


def test_open_pdf_always_closes() -> None:
    with open_pdf(CORPUS / "text" / "crazyones.pdf") as document:
        assert document.raw is not None
    assert document.raw is None

    with pytest.raises(RuntimeError, match="boom"), open_pdf(CORPUS / "text" / "crazyones.pdf") as document:
        raise RuntimeError("boom")
    assert document.raw is None


def test_missing_file_is_the_callers_bug() -> None:
    with pytest.raises(FileNotFoundError):
        inspect_pdf(CORPUS / "no-such-file.pdf")


def test_threads_may_share_pdfium() -> None:
    # pdfium is not thread-safe; open_pdf serialises its users, so this must neither crash nor mix up.
    files = {
        CORPUS / "scans" / "multipage.pdf": 6,
        CORPUS / "text" / "crazyones.pdf": 1,
        CORPUS / "invoices" / "free_fiber.pdf": 2,
        CORPUS / "text" / "Seige_of_Vicksburg_Sample_OCR-crazyones-merged.pdf": 7,
    }
    failures: list[str] = []

    def work(path: Path, expected: int) -> None:
        for _ in range(25):
            with open_pdf(path) as document:
                text = "".join(page.get_textpage().get_text_range() for page in document)
                if len(document) != expected or (expected != 6 and not text):
                    failures.append(path.name)

    threads = [threading.Thread(target=work, args=item) for item in files.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert not any(thread.is_alive() for thread in threads)
