"""A ticket as the agent sees it before any model call: scrubbed, its language and its signals.

Shared by the agent service, batch classification and the routing benchmark, so that all three
scrub and analyse a ticket the same way.
"""

from __future__ import annotations

from callcenterai.agent import pii
from callcenterai.agent.language import detect_language
from callcenterai.agent.routing import ticket_signals


class Scrubbed:
    """A ticket after scrubbing, with what the router needs to know about it."""

    def __init__(self, text: str, person_names: bool = True):
        # Structured identifiers first, so that language detection only sees scrubbed text; then
        # names, with the model of the detected language, added to the same findings.
        findings = pii.find_pii(text, names=False)
        language = detect_language(pii.apply_findings(text, findings).text)
        if person_names:
            names = pii.find_person_names(text, language.code)
            findings = pii.resolve(findings + names) if names else findings
        result = pii.apply_findings(text, findings)
        self.text, self.counts, self.language = result.text, result.counts, language
        self.signals = ticket_signals(result.text, language.code, language.confidence)
