"""redact_pdf's own rules: what counts as one find, and its verification check."""

from __future__ import annotations

from pdfjobs.jobtypes.redaction import RedactPdf, _without_shadows


def _match(category: str, page: int, *words: tuple[int, int]) -> dict:
    return {"page": page, "category": category, "text": "x", "words": [[line, word, 0, 1] for line, word in words]}


def test_a_phone_like_run_inside_an_iban_is_not_a_second_find() -> None:
    iban = _match("IBAN", 1, (4, 1), (4, 2), (4, 3), (4, 4), (4, 5))
    inside = _match("PhoneNumber", 1, (4, 3), (4, 4), (4, 5))
    elsewhere = _match("PhoneNumber", 1, (2, 3))
    other_page = _match("PhoneNumber", 2, (4, 3))
    term = _match("Term", 1, (4, 3))  # a term the client asked for is always its own find
    kept = _without_shadows([iban, inside, elsewhere, other_page, term])
    assert kept == [iban, elsewhere, other_page, term]


def test_the_verification_check_reflects_every_document() -> None:
    clean = {"verification": {"survivors": 0}}
    checks = RedactPdf().quality_checks({"documents": [clean, clean]})
    assert [(check.name, check.passed) for check in checks] == [("redaction_verified", True)]
    assert RedactPdf().quality_checks({"documents": [clean, {"verification": {"survivors": 1}}]})[0].passed is False
