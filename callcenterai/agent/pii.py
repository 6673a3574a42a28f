"""PII scrubbing: find personal data in a ticket and replace it with typed placeholders.

Structured identifiers are found by pattern and then validated, so that look-alikes (ticket
numbers, dates, version strings) are left alone:

* ``[EMAIL]`` e-mail addresses;
* ``[PHONE]`` phone numbers, international and national formats, validated by ``phonenumbers``
  (Google's libphonenumber) for the regions in :data:`PHONE_REGIONS`;
* ``[CREDIT_CARD]`` payment card numbers (13-19 digits, spaces or dashes allowed, Luhn-checked);
* ``[IBAN]`` IBANs (country length and ISO 13616 mod-97 checksum);
* ``[IP_ADDRESS]`` IPv4 and IPv6 addresses (validated by :mod:`ipaddress`);
* ``[URL_SECRET]`` URLs that carry credentials (``user:pass@``) or tokens in their query.

Placeholders are upper-case words in brackets, which :func:`callcenterai.text.normalise_text`
removes before a model sees the text. Values never leave this module: the result holds the
scrubbed text and counts per entity type only.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field

import phonenumbers

PHONE_REGIONS = ("FR", "MA", "TN", "US", "GB")

EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
URL_RE = re.compile(r"\b(?:https?|ftp)://[^\s<>\"']+", re.IGNORECASE)
SECRET_QUERY_RE = re.compile(
    r"[?&#](?:access_token|token|api[_-]?key|apikey|key|secret|password|passwd|pwd|sig|"
    r"signature|auth|session|sessionid|code)=",
    re.IGNORECASE,
)
CARD_RE = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b", re.IGNORECASE)
IPV4_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
IPV6_RE = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")

IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DZ": 26, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27,
    "HR": 21, "HU": 28, "IE": 22, "IT": 27, "JO": 30, "KW": 30, "LB": 28, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MA": 28, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "QA": 29, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "TN": 24, "TR": 26,
}  # fmt: skip

# When two findings overlap, the more specific one (earlier here) wins.
ENTITY_ORDER = ("URL_SECRET", "EMAIL", "IBAN", "CREDIT_CARD", "IP_ADDRESS", "PHONE")
PRIORITY = {entity: rank for rank, entity in enumerate(ENTITY_ORDER)}


@dataclass(frozen=True)
class Finding:
    start: int
    end: int
    entity: str


@dataclass
class ScrubResult:
    text: str
    counts: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # positions in the original text

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "").upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _emails(text: str):
    for match in EMAIL_RE.finditer(text):
        yield Finding(match.start(), match.end(), "EMAIL")


def _url_secrets(text: str):
    for match in URL_RE.finditer(text):
        url = match.group().rstrip(".,;:!?)")
        has_credentials = "@" in url.split("/", 3)[2] if url.count("/") >= 2 else False
        if has_credentials or SECRET_QUERY_RE.search(url):
            yield Finding(match.start(), match.start() + len(url), "URL_SECRET")


def _cards(text: str):
    for match in CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits) and len(set(digits)) > 1:
            yield Finding(match.start(), match.end(), "CREDIT_CARD")


def _ibans(text: str):
    for match in IBAN_RE.finditer(text):
        candidate = match.group()
        # The pattern may run into a following word; try the longest valid prefix.
        for end in range(len(candidate), 14, -1):
            if candidate[end - 1] != " " and iban_valid(candidate[:end]):
                yield Finding(match.start(), match.start() + end, "IBAN")
                break


VERSION_CONTEXT_RE = re.compile(r"(?:version|release|build|\bver\.?|\bv|الإصدار|النسخة)\s*$", re.I)


def _ips(text: str):
    for pattern in (IPV4_RE, IPV6_RE):
        for match in pattern.finditer(text):
            try:
                ipaddress.ip_address(match.group())
            except ValueError:
                continue
            # "version 10.2.1.4" is a version number, whatever its digits.
            if VERSION_CONTEXT_RE.search(text[max(0, match.start() - 16) : match.start()]):
                continue
            yield Finding(match.start(), match.end(), "IP_ADDRESS")


DATE_RE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")


def looks_like_phone(raw: str) -> bool:
    """Keep what people write as phone numbers; drop bare ids and dates that happen to be valid.

    International (``+``/``00``) and trunk-prefixed (``0...``) numbers are kept, as are numbers
    written in groups (``20 123 456``, ``(415) 555-2671``) and bare runs of 10 or more digits
    (``4155552671``); a bare 8-digit run is more often a ticket number than a Tunisian phone.
    Dates never count.
    """
    raw = raw.strip()
    if DATE_RE.match(raw):
        return False
    if raw.startswith(("+", "00", "0")) or re.search(r"[\s().-]", raw):
        return True
    return len(raw) >= 10


def _phones(text: str):
    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region, phonenumbers.Leniency.VALID):
            if looks_like_phone(match.raw_string):
                yield Finding(match.start, match.end, "PHONE")


DETECTORS = (_url_secrets, _emails, _ibans, _cards, _ips, _phones)


def find_pii(text: str) -> list[Finding]:
    """Non-overlapping findings, in text order; on overlap the higher-priority type wins."""
    candidates = [finding for detector in DETECTORS for finding in detector(text)]
    candidates.sort(key=lambda f: (PRIORITY[f.entity], -(f.end - f.start), f.start))
    chosen: list[Finding] = []
    for candidate in candidates:
        if all(candidate.end <= f.start or candidate.start >= f.end for f in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda f: f.start)


def scrub_pii(text: str) -> ScrubResult:
    """Replace every finding with its placeholder; return the text and counts by type."""
    findings = find_pii(text)
    parts, position = [], 0
    for finding in findings:
        parts += [text[position : finding.start], f"[{finding.entity}]"]
        position = finding.end
    parts.append(text[position:])
    counts = Counter(finding.entity for finding in findings)
    return ScrubResult("".join(parts), dict(counts), findings)
