"""A ticket as the agent sees it before any model call: scrubbed, its language and its signals.

Shared by the agent service, batch classification and the routing benchmark, so that all three
scrub and analyse a ticket the same way.
"""

from __future__ import annotations

from callcenterai.agent import pii
from callcenterai.agent.language import Language, detect_language
from callcenterai.agent.routing import ticket_signals
from callcenterai.text import PLACEHOLDER_RE


def scrub(text: str, person_names: bool = True) -> tuple[pii.ScrubResult, Language]:
    """The agent's scrubbing of ``text``, and its language.

    Structured identifiers first, so that language detection only sees scrubbed text; then
    names, with the model of the detected language, added to the same findings.
    """
    findings = pii.find_pii(text, names=False)
    language = detect_language(pii.apply_findings(text, findings).text)
    if person_names:
        names = pii.find_person_names(text, language.code)
        findings = pii.resolve(findings + names) if names else findings
    return pii.apply_findings(text, findings), language


def scrub_for_model(text: str, person_names: bool = True) -> str:
    """What the agent would send a model for ``text``: training and evaluation texts are
    scrubbed the same way, so a model learns and is measured on what it will be given, and no
    e-mail user name or person's name becomes vocabulary stored in a model. (All-lower-case
    text, such as the Kaggle tickets, skips language detection: no name is found in it.)"""
    if not person_names or not any(char.isupper() for char in PLACEHOLDER_RE.sub("", text)):
        return pii.scrub_pii(text, names=False).text
    return scrub(text, person_names)[0].text


class Scrubbed:
    """A ticket after scrubbing, with what the router needs to know about it."""

    def __init__(self, text: str, person_names: bool = True):
        result, language = scrub(text, person_names)
        self.text, self.counts, self.language = result.text, result.counts, language
        self.signals = ticket_signals(result.text, language.code, language.confidence)
