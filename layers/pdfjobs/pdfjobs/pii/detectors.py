"""Local PII detectors: categories found by regex and checksum, user terms and user patterns.

Pages come in the OCR result's shape (see `pdfjobs.ocr`). A page's text is its words joined by
single spaces and its lines joined by "\\n"; every match is a span of that text mapped back to the
words it covers: `{"page", "category", "text", "words": [[line, word, start, end], ...],
"boxes": [[x0, y0, x1, y1], ...]}`, one box per covered word part (a part of a word gets the
share of the word's box its characters take). Overlapping matches are all reported.

Every built-in regex is anchored by a look-behind so that only the start of a token can begin a
match, and its repeats are bounded or separated, so a page is scanned in linear time. User
patterns are checked by `pdfjobs.engines.invoices.validate_pattern` and run on each line in
windows of at most `MAX_REGEX_INPUT` characters.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pdfjobs.errors import ValidationFailed

CATEGORIES = ("Email", "PhoneNumber", "SSN", "CreditCard", "IBAN", "IPAddress", "URL", "Date")
COMPREHEND_CATEGORIES = ("Person", "Address", *CATEGORIES)
ENGINES = ("local", "comprehend")

MAX_TERMS = 200
MAX_TERM_CHARS = 200
MAX_PATTERNS = 20


# --- Page text and its index back to words ---------------------------------------------------


class PageText:
    """A page's text with, for each character, the (line, word, char) it came from.

    Separators (the space between words, the newline between lines) map to line -1.
    """

    def __init__(self, page: dict[str, Any]) -> None:
        self.number = int(page.get("page") or 0)
        parts: list[str] = []
        self._line: list[int] = []
        self._word: list[int] = []
        self._char: list[int] = []
        self._words: dict[tuple[int, int], tuple[int, list[float] | None]] = {}
        self.line_spans: list[tuple[int, int]] = []  # start, end of each non-empty line
        position = 0
        for line_index, line in enumerate(page.get("lines") or []):
            words = [(index, word) for index, word in enumerate(line.get("words") or []) if word.get("text")]
            if not words and line.get("text"):  # a line without words: one word, the line's box
                words = [(0, {"text": line["text"], "bbox": line.get("bbox")})]
            if not words:
                continue
            if self.line_spans:
                parts.append("\n")
                self._append_separator()
                position += 1
            start = position
            for number, (word_index, word) in enumerate(words):
                if number:
                    parts.append(" ")
                    self._append_separator()
                    position += 1
                text = str(word["text"])
                parts.append(text)
                self._line.extend([line_index] * len(text))
                self._word.extend([word_index] * len(text))
                self._char.extend(range(len(text)))
                self._words[(line_index, word_index)] = (len(text), word.get("bbox"))
                position += len(text)
            self.line_spans.append((start, position))
        self.text = "".join(parts)

    def _append_separator(self) -> None:
        self._line.append(-1)
        self._word.append(-1)
        self._char.append(-1)

    def match(self, start: int, end: int, category: str) -> dict[str, Any] | None:
        """The match for text[start:end], or None when it covers no word character."""
        parts: list[list[int]] = []
        for position in range(start, end):
            line = self._line[position]
            if line < 0:
                continue
            word, char = self._word[position], self._char[position]
            if parts and parts[-1][0] == line and parts[-1][1] == word:
                parts[-1][3] = char + 1
            else:
                parts.append([line, word, char, char + 1])
        if not parts:
            return None
        return {
            "page": self.number,
            "category": category,
            "text": self.text[start:end],
            "words": parts,
            "boxes": [self._box(line, word, first, last) for line, word, first, last in parts],
        }

    def _box(self, line: int, word: int, first: int, last: int) -> list[float]:
        length, bbox = self._words[(line, word)]
        if not bbox or len(bbox) != 4:
            return []
        x0, y0, x1, y1 = (float(value) for value in bbox)
        if first == 0 and last >= length:
            return [x0, y0, x1, y1]
        width = x1 - x0
        return [round(x0 + width * first / length, 2), y0, round(x0 + width * last / length, 2), y1]


# --- Built-in categories -----------------------------------------------------------------------

Span = tuple[int, int]

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_URL = re.compile(r"(?<![\w.@/-])(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\""
_IPV4 = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?![\w:])")
_SSN = re.compile(r"(?<![\w-])(\d{3})-(\d{2})-(\d{4})(?![\w]|-\d)")
_DIGIT_RUN = re.compile(r"(?<![\w.,/-])\d+(?:[ -]\d+)*(?![\w]|[.,/]\d)")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,36}(?![A-Za-z0-9])")
_PHONE = re.compile(r"(?<![\w+])(?<!\d[.,/-])[+(]?\d[\d ().-]{5,22}\d(?![\w]|[.,/-]\d)")

_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)"
)
_ORDINAL = r"(?:st|nd|rd|th)?"
_NUMERIC_DMY = re.compile(r"(?<![\w.,/-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\w]|[.,/-]\d)")
_NUMERIC_YMD = re.compile(r"(?<![\w.,/-])(\d{4})([/.-])(\d{1,2})\2(\d{1,2})(?![\w]|[.,/-]\d)")
_NAMED_DATES = (
    re.compile(rf"(?<![\w])\d{{1,2}}{_ORDINAL} (?:of )?{_MONTHS}\.?,? \d{{4}}(?!\w)", re.IGNORECASE),
    re.compile(rf"(?<![\w]){_MONTHS}\.? \d{{1,2}}{_ORDINAL},? \d{{4}}(?!\w)", re.IGNORECASE),
    re.compile(rf"(?<![\w]){_MONTHS}\.?,? \d{{4}}(?!\w)", re.IGNORECASE),
)

# IBAN lengths of the countries most often seen (ISO 13616 registry); others: 15..34 characters.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def _emails(text: str) -> Iterator[Span]:
    for found in _EMAIL.finditer(text):
        yield found.span()


def _urls(text: str) -> Iterator[Span]:
    for found in _URL.finditer(text):
        start, end = found.span()
        while end > start and text[end - 1] in _URL_TRAILING:
            if text[end - 1] == ")" and text.count("(", start, end) >= text.count(")", start, end):
                break  # a balanced parenthesis belongs to the URL (Wikipedia style)
            end -= 1
        if end - start > 4:
            yield start, end


def _ip_addresses(text: str) -> Iterator[Span]:
    for found in _IPV4.finditer(text):
        if all(int(octet) <= 255 for octet in found.groups()):
            yield found.span()
    for found in _IPV6.finditer(text):
        candidate = found.group()
        if sum(char in "0123456789abcdefABCDEF" for char in candidate) < 1:
            continue
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        yield found.span()


def _valid_day_month(day: int, month: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= 31


def _dates(text: str) -> Iterator[Span]:
    for found in _NUMERIC_DMY.finditer(text):
        first, second = int(found.group(1)), int(found.group(3))
        if _valid_day_month(first, second) or _valid_day_month(second, first):
            yield found.span()
    for found in _NUMERIC_YMD.finditer(text):
        if _valid_day_month(int(found.group(4)), int(found.group(3))):
            yield found.span()
    for pattern in _NAMED_DATES:
        for found in pattern.finditer(text):
            yield found.span()


def _is_date(candidate: str) -> bool:
    return any(pattern.fullmatch(candidate) for pattern in (_NUMERIC_DMY, _NUMERIC_YMD))


def _valid_ssn(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def _ssns(text: str) -> Iterator[Span]:
    for found in _SSN.finditer(text):
        if _valid_ssn(*found.groups()):
            yield found.span()


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_issuer_ok(digits: str) -> bool:
    """Whether the number starts as a known issuer's numbers do, at one of that issuer's lengths."""
    length = len(digits)
    two, three, four, six = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":  # Visa
        return length in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:  # Mastercard
        return length == 16
    if two in (34, 37):  # American Express
        return length == 15
    if four == 6011 or 644 <= three <= 649 or two == 65 or 622126 <= six <= 622925:  # Discover
        return 16 <= length <= 19
    if 3528 <= four <= 3589:  # JCB
        return 16 <= length <= 19
    if 300 <= three <= 305 or two in (36, 38, 39):  # Diners Club
        return 14 <= length <= 19
    if two == 62:  # UnionPay
        return 16 <= length <= 19
    if two == 50 or 56 <= two <= 58 or digits[0] == "6":  # Maestro
        return 13 <= length <= 19
    return False


def is_card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and _card_issuer_ok(digits) and luhn_valid(digits)


def _credit_cards(text: str) -> Iterator[Span]:
    """Runs of digit groups; within a run, consecutive groups of 13..19 digits in all."""
    for run in _DIGIT_RUN.finditer(text):
        groups = [
            (found.start() + run.start(), found.end() + run.start()) for found in re.finditer(r"\d+", run.group())
        ]
        first = 0
        while first < len(groups):
            digits = ""
            matched = None
            for last in range(first, len(groups)):
                digits += text[groups[last][0] : groups[last][1]]
                if len(digits) > 19:
                    break
                if is_card_number(digits):
                    matched = last  # keep extending: the longest valid number wins
            if matched is not None:
                yield groups[first][0], groups[matched][1]
                first = matched + 1
            else:
                first += 1


def iban_valid(compact: str) -> bool:
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    expected = _IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _ibans(text: str) -> Iterator[Span]:
    for found in _IBAN.finditer(text):
        start, candidate = found.start(), found.group()
        # Candidate ends: its end and, for a greedy run that swallowed what follows, each group end.
        ends = [index for index, char in enumerate(candidate) if char == " "] + [len(candidate)]
        expected = _IBAN_LENGTHS.get(candidate[:2])
        for end in reversed(ends):
            compact = candidate[:end].replace(" ", "")
            if expected is not None and len(compact) != expected:
                continue
            if iban_valid(compact):
                yield start, start + end
                break


def _phone_numbers(text: str) -> Iterator[Span]:
    for found in _PHONE.finditer(text):
        start, end = found.span()
        candidate = found.group()
        if candidate.startswith("(") and ")" not in candidate:
            start, candidate = start + 1, candidate[1:]
        if _plausible_phone(candidate):
            yield start, end


def _plausible_phone(candidate: str) -> bool:
    digits = "".join(char for char in candidate if char.isdigit())
    if not 7 <= len(digits) <= 15:
        return False
    opened, closed = candidate.count("("), candidate.count(")")
    if opened != closed or opened > 1 or (opened and candidate.index("(") > candidate.index(")")):
        return False
    if re.search(r"[ .-]{2}|\(\)|\d\.\d+\.\d+\.\d", candidate) or _is_date(candidate) or _SSN.fullmatch(candidate):
        return False
    if len(digits) >= 13 and is_card_number(digits):
        return False
    if candidate.startswith("+") or candidate.startswith("("):
        return True
    groups = re.findall(r"\d+", candidate)
    separators = set(re.findall(r"[ .-]", candidate))
    if len(groups) == 1:
        return candidate.startswith("0") and len(digits) >= 9  # national 0612345678
    if len(groups[0]) <= 3 and all(len(group) == 3 for group in groups[1:]) and separators <= {".", " "}:
        return False  # thousands grouping: an amount or a count
    if len(groups) == 2:  # 555-1234, 020 79460958
        return candidate.startswith("0") or (separators == {"-"} and len(groups[0]) == 3 and len(groups[1]) == 4)
    return not all(len(group) == 4 for group in groups)  # a reference printed in fours is not


_DETECTORS: dict[str, Callable[[str], Iterator[Span]]] = {
    "Email": _emails,
    "PhoneNumber": _phone_numbers,
    "SSN": _ssns,
    "CreditCard": _credit_cards,
    "IBAN": _ibans,
    "IPAddress": _ip_addresses,
    "URL": _urls,
    "Date": _dates,
}


# --- Terms and patterns -----------------------------------------------------------------------


def _outermost(spans: Iterator[Span]) -> Iterator[Span]:
    """The spans not inside another of the same detector ("March 2024" in "3rd of March 2024")."""
    reach = -1
    for start, end in sorted(set(spans), key=lambda span: (span[0], -span[1])):
        if end > reach:
            reach = end
            yield start, end


def _normalise_term(term: str) -> str:
    return " ".join(_lower(term).split())


def _lower(text: str) -> str:
    """Lower case, one character for one (so offsets stay put)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(low if len(low := char.lower()) == 1 else char for char in text)


def _term_texts(page: PageText) -> list[tuple[str, list[int]]]:
    """The page's text lower-cased with line breaks as spaces, in two versions for end-of-line
    hyphens ("Jo-\\nhnson"): one without the hyphen ("johnson"), one with it ("well-known").
    Each comes with the page-text position of every character."""
    text = page.text
    lowered = _lower(text)
    versions = []
    for keep_hyphen in (False, True):
        chars: list[str] = []
        positions: list[int] = []
        for position, char in enumerate(lowered):
            if char == "\n":
                hyphenated = (
                    position >= 2
                    and text[position - 1] == "-"
                    and text[position - 2].isalpha()
                    and position + 1 < len(text)
                    and text[position + 1].isalpha()
                )
                if hyphenated:
                    if not keep_hyphen:
                        chars.pop()
                        positions.pop()
                    continue
                char = " "
            chars.append(char)
            positions.append(position)
        versions.append(("".join(chars), positions))
    return versions


def _term_spans(page: PageText, terms: Sequence[str]) -> Iterator[tuple[str, Span]]:
    wanted = sorted({normalised for term in terms if (normalised := _normalise_term(term))})
    if not wanted:
        return
    seen: set[Span] = set()
    for text, positions in _term_texts(page):
        for term in wanted:
            start = text.find(term)
            while start >= 0:
                end = start + len(term)
                bounded = not (term[0].isalnum() and start > 0 and text[start - 1].isalnum()) and not (
                    term[-1].isalnum() and end < len(text) and text[end].isalnum()
                )
                span = (positions[start], positions[end - 1] + 1)
                if bounded and span not in seen:
                    seen.add(span)
                    yield "Term", span
                start = text.find(term, start + 1)


def _pattern_spans(page: PageText, patterns: Sequence[str]) -> Iterator[tuple[str, Span]]:
    from pdfjobs.engines.invoices import MAX_REGEX_INPUT

    compiled = [re.compile(pattern) for pattern in patterns]
    for line_start, line_end in page.line_spans:
        for window in range(line_start, line_end, MAX_REGEX_INPUT):
            chunk = page.text[window : min(line_end, window + MAX_REGEX_INPUT)]
            for pattern in compiled:
                for found in pattern.finditer(chunk):
                    if found.end() > found.start():
                        yield "Pattern", (window + found.start(), window + found.end())


# --- Entry points ------------------------------------------------------------------------------


def find_matches(
    pages: list[dict[str, Any]],
    *,
    categories: Sequence[str] = (),
    terms: Sequence[str] = (),
    patterns: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every match of the local categories, the terms and the patterns on the pages.

    Categories that need Amazon Comprehend (Person, Address) are not detected here; patterns are
    validated (ValidationFailed) before any page is searched.
    """
    from pdfjobs.engines.invoices import validate_pattern

    for pattern in patterns:
        validate_pattern(pattern)
    detectors = [(category, _DETECTORS[category]) for category in dict.fromkeys(categories) if category in _DETECTORS]
    matches: list[dict[str, Any]] = []
    for page in pages:
        text = PageText(page)
        if not text.text:
            continue
        found: list[tuple[int, int, str]] = []
        for category, detector in detectors:
            found.extend((start, end, category) for start, end in _outermost(detector(text.text)))
        found.extend((start, end, category) for category, (start, end) in _term_spans(text, terms))
        found.extend((start, end, category) for category, (start, end) in _pattern_spans(text, patterns))
        for start, end, category in sorted(set(found)):
            match = text.match(start, end, category)
            if match is not None:
                matches.append(match)
    return matches


def validate_request(categories: Sequence[str], terms: Sequence[str], patterns: Sequence[str], engine: str) -> None:
    """Refuse (ValidationFailed) what find_matches or the engine cannot do, naming the problem."""
    if engine not in ENGINES:
        raise ValidationFailed(
            f"Unknown engine '{engine}': use one of {', '.join(ENGINES)}.", details={"field": "engine"}
        )
    if not categories and not terms and not patterns:
        raise ValidationFailed(
            "Nothing to find: give at least one of categories, terms or patterns.", details={"field": "categories"}
        )
    for category in categories:
        if category not in COMPREHEND_CATEGORIES:
            raise ValidationFailed(
                f"Unknown category '{category}': use one of {', '.join(COMPREHEND_CATEGORIES)}.",
                details={"field": "categories", "category": str(category)},
            )
    if engine == "local":
        needing = [
            category for category in COMPREHEND_CATEGORIES if category in categories and category not in CATEGORIES
        ]
        if needing:
            raise ValidationFailed(
                f"{' and '.join(needing)} need{'s' if len(needing) == 1 else ''} engine comprehend.",
                details={"field": "categories", "categories": needing},
            )
    if len(terms) > MAX_TERMS:
        raise ValidationFailed(f"At most {MAX_TERMS} terms are allowed; got {len(terms)}.", details={"field": "terms"})
    for index, term in enumerate(terms):
        if not isinstance(term, str) or not term.strip():
            raise ValidationFailed(f"Term {index} is empty.", details={"field": f"terms.{index}"})
        if len(term) > MAX_TERM_CHARS:
            raise ValidationFailed(
                f"Term {index} is longer than {MAX_TERM_CHARS} characters.", details={"field": f"terms.{index}"}
            )
    if len(patterns) > MAX_PATTERNS:
        raise ValidationFailed(
            f"At most {MAX_PATTERNS} patterns are allowed; got {len(patterns)}.", details={"field": "patterns"}
        )
    from pdfjobs.engines.invoices import validate_pattern

    for pattern in patterns:
        validate_pattern(pattern)
