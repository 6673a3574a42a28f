"""PII scrubbing quality and speed on generated tickets with known spans.

Tickets in English, French and Arabic are generated with Faker (en_US, en_GB, fr_FR) and
phonenumbers (Moroccan and Tunisian numbers, which Faker lacks); each injected value's span is
known, and distractors that must *not* be scrubbed (ticket numbers, dates, versions, amounts,
product names such as Outlook or Teams) are mixed in. Person names come from Faker's en_US,
en_GB, fr_FR and ar_SA locales; Arabic names are not detected by the scrubber, and their recall
is reported anyway to show that limit. Tickets are scrubbed with their language, as the agent
does. Run ``python -m benchmarks.pii``; writes ``reports/benchmarks/pii.json`` and re-renders
``reports/benchmark.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import statistics
import time
from datetime import datetime, timezone

import phonenumbers
from faker import Faker

from benchmarks.report import REPORT_DIR, render_report
from callcenterai.agent.pii import find_pii, scrub_pii, warm_up
from callcenterai.config import PROJECT_ROOT

TEMPLATES = {
    "en": [
        "Hi, please call me back at {PHONE} about ticket {ID}, thanks.",
        "My e-mail is {EMAIL}; the laptop was bought on {DATE} for {AMOUNT} USD.",
        "I was charged twice on card {CREDIT_CARD}, please refund. Order {ID}.",
        "Please pay the invoice to IBAN {IBAN} before {DATE}.",
        "The server {IP_ADDRESS} is down since version {VERSION} was installed.",
        "The reset link {URL_SECRET} does not work, can you check? Ref {ID}.",
        "Contact {EMAIL} or {PHONE} if the VPN at {IP_ADDRESS} fails again.",
        "Hello, I am {PERSON} and my laptop will not start since the update. Ticket {ID}.",
        "Please give {PERSON} access to the Finance SharePoint site, approved by {PERSON}.",
        "Outlook freezes every time I join a Teams call. Thanks, {PERSON}",
        "My manager {PERSON} approved a new Dell monitor, order {ID} of {AMOUNT} USD.",
    ],
    "fr": [
        "Bonjour, merci de me rappeler au {PHONE} pour le ticket {ID}.",
        "Mon adresse est {EMAIL}, commande du {DATE} d'un montant de {AMOUNT} EUR.",
        "Ma carte {CREDIT_CARD} a été débitée deux fois, commande {ID}.",
        "Veuillez virer le remboursement sur l'IBAN {IBAN}.",
        "Le serveur {IP_ADDRESS} ne répond plus depuis la version {VERSION}.",
        "Le lien {URL_SECRET} ne fonctionne pas, référence {ID}.",
        "Bonjour, je suis {PERSON}, mon écran reste noir depuis ce matin.",
        "Merci de créer un compte Windows pour {PERSON}, qui arrive le {DATE}.",
        "Excel plante à l'ouverture du fichier partagé sur Teams. Cordialement, {PERSON}",
        "Pouvez-vous donner à {PERSON} l'accès au VPN ? Ticket {ID}.",
    ],
    "ar": [
        "مرحبا، يرجى الاتصال بي على الرقم {PHONE} بخصوص الطلب {ID}.",
        "بريدي الإلكتروني هو {EMAIL} وتاريخ الشراء {DATE}.",
        "تم خصم المبلغ مرتين من بطاقتي {CREDIT_CARD}، الطلب رقم {ID}.",
        "يرجى تحويل المبلغ إلى الحساب {IBAN}.",
        "الخادم {IP_ADDRESS} متوقف منذ تثبيت الإصدار {VERSION}.",
        "الرابط {URL_SECRET} لا يعمل.",
        "مرحبا، أنا {PERSON} والحاسوب لا يعمل منذ التحديث، الطلب {ID}.",
        "يرجى منح {PERSON} صلاحية الوصول إلى مجلد المالية.",
    ],
}
STRUCTURED = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "URL_SECRET")
ENTITIES = (*STRUCTURED, "PERSON")
NAME_LOCALES = {"en": ("en_US", "en_GB"), "fr": ("fr_FR",), "ar": ("ar_SA",)}
HANDWRITTEN = PROJECT_ROOT / "data" / "eval" / "multilingual_tickets.csv"


class Values:
    """Generators of realistic values, one method per placeholder."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)  # nosec B311 - test data
        self.fakers = [Faker(locale) for locale in ("en_US", "en_GB", "fr_FR")]
        for index, faker in enumerate(self.fakers):
            faker.seed_instance(seed + index)
        self.name_fakers = {
            language: [Faker(locale) for locale in locales]
            for language, locales in NAME_LOCALES.items()
        }
        for index, faker in enumerate(f for fs in self.name_fakers.values() for f in fs):
            faker.seed_instance(seed + 100 + index)
        self.language = "en"  # set by generate() for each ticket

    def faker(self) -> Faker:
        return self.rng.choice(self.fakers)

    def EMAIL(self) -> str:
        return self.faker().email()

    def PHONE(self) -> str:
        region = self.rng.choice(["FR", "US", "GB", "MA", "TN"])
        if region in ("FR", "US", "GB"):
            faker = {"FR": self.fakers[2], "US": self.fakers[0], "GB": self.fakers[1]}[region]
            while True:
                number = faker.phone_number()
                parsed = phonenumbers.parse(number, region)
                if phonenumbers.is_valid_number(parsed) and "x" not in number.lower():
                    return number
        prefix = {"MA": ("6", "7"), "TN": ("2", "5", "9")}[region]
        while True:
            national = self.rng.choice(prefix) + "".join(
                str(self.rng.randrange(10)) for _ in range(8 if region == "MA" else 7)
            )
            parsed = phonenumbers.parse(national, region)
            if phonenumbers.is_valid_number(parsed):
                style = self.rng.choice(
                    [
                        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                        phonenumbers.PhoneNumberFormat.NATIONAL,
                    ]
                )
                return phonenumbers.format_number(parsed, style)

    def CREDIT_CARD(self) -> str:
        digits = self.faker().credit_card_number(
            card_type=self.rng.choice(["visa16", "mastercard", "amex"])
        )
        separator = self.rng.choice(["", " ", "-"])
        groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
        return separator.join(groups)

    def IBAN(self) -> str:
        iban = self.rng.choice(self.fakers[1:]).iban()
        if self.rng.random() < 0.5:
            return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban

    def IP_ADDRESS(self) -> str:
        return self.faker().ipv4() if self.rng.random() < 0.7 else self.faker().ipv6()

    def URL_SECRET(self) -> str:
        faker = self.faker()
        if self.rng.random() < 0.5:
            return f"https://{faker.domain_name()}/reset?token={faker.sha1()[:24]}"
        password = faker.password(special_chars=False)
        return f"https://{faker.user_name()}:{password}@{faker.domain_name()}/files"

    def PERSON(self) -> str:
        faker = self.rng.choice(self.name_fakers[self.language])
        if self.rng.random() < 0.15:  # sign-offs and mentions by first name only
            return faker.first_name()
        return f"{faker.first_name()} {faker.last_name()}"

    def ID(self) -> str:
        return str(self.rng.randrange(10_000, 99_999_999))

    def DATE(self) -> str:
        return self.faker().date(pattern=self.rng.choice(["%Y-%m-%d", "%d/%m/%Y"]))

    def AMOUNT(self) -> str:
        return f"{self.rng.randrange(10, 5000)}.{self.rng.randrange(100):02d}"

    def VERSION(self) -> str:
        return ".".join(str(self.rng.randrange(20)) for _ in range(self.rng.choice([2, 3, 4])))


def generate(n: int, seed: int) -> list[tuple[str, list[tuple[int, int, str]], str]]:
    values, rng = Values(seed), random.Random(seed)  # nosec B311 - test data
    tickets = []
    for _ in range(n):
        language = rng.choices(["en", "fr", "ar"], [0.5, 0.25, 0.25])[0]
        template = rng.choice(TEMPLATES[language])
        values.language = language
        text, spans = "", []
        for part in re.split(r"(\{[A-Z_]+\})", template):
            if part.startswith("{") and part.endswith("}"):
                kind = part[1:-1]
                value = getattr(values, kind)()
                if kind in ENTITIES:
                    spans.append((len(text), len(text) + len(value), kind))
                text += value
            else:
                text += part
        tickets.append((text, spans, language))
    return tickets


def score(tickets, names: bool = True) -> dict:
    """Per type: a true span is found when a finding of its type overlaps it (``tp``); ``full``
    counts those the finding covers entirely (for names: first and last name both hidden)."""
    kinds = ENTITIES if names else STRUCTURED
    stats = {kind: {"tp": 0, "fn": 0, "fp": 0, "full": 0} for kind in kinds}
    for text, truth, language in tickets:
        found = find_pii(text, language=language, names=names)
        matched = set()
        for start, end, kind in truth:
            if kind not in stats:
                continue
            hit = next(
                (
                    i
                    for i, f in enumerate(found)
                    if f.entity == kind and f.start < end and start < f.end
                ),
                None,
            )
            if hit is None:
                stats[kind]["fn"] += 1
            else:
                stats[kind]["tp"] += 1
                stats[kind]["full"] += found[hit].start <= start and end <= found[hit].end
                matched.add(hit)
        for index, finding in enumerate(found):
            if index not in matched:
                stats.setdefault(finding.entity, {"tp": 0, "fn": 0, "fp": 0, "full": 0})["fp"] += 1
    for counts in stats.values():
        predicted = counts["tp"] + counts["fp"]
        actual = counts["tp"] + counts["fn"]
        counts["precision"] = counts["tp"] / predicted if predicted else None
        counts["recall"] = counts["tp"] / actual if actual else None
    return stats


def timing(
    median_ticket: str, repeats: int = 500, language: str | None = None, names: bool = True
) -> dict:
    scrub_pii(median_ticket, language=language, names=names)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        scrub_pii(median_ticket, language=language, names=names)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "chars": len(median_ticket),
        "p50_ms": statistics.median(times),
        "p95_ms": sorted(times)[int(0.95 * len(times))],
    }


# Median-length tickets as users write them (no structured PII; one first name in the sign-off).
PLAIN_MEDIAN_TICKETS = {
    "en": "Hello team, my laptop has been very slow since the last update on Monday and Outlook "
    "keeps freezing when I open attachments. Could someone have a look? Thanks, Sam",
    "fr": "Bonjour, mon ordinateur est très lent depuis la dernière mise à jour de lundi et "
    "Outlook se fige quand j'ouvre une pièce jointe. Pouvez-vous regarder ? Merci, Claire",
}


def handwritten_false_names() -> dict:
    """Names found in the hand-written evaluation tickets, which contain none: all are false."""
    with HANDWRITTEN.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    result = {}
    for language in ("en", "fr"):
        texts = [row["text"] for row in rows if row["language"] == language]
        found = [
            text[f.start : f.end]
            for text in texts
            for f in find_pii(text, language=language)
            if f.entity == "PERSON"
        ]
        result[language] = {"tickets": len(texts), "false_names": found}
    return result


# Product names that are *not* in the scrubber's stop-list (NOT_NAMES), in short ticket sentences:
# how often the name model takes an unlisted product for a person.
UNLISTED_PRODUCTS = (
    "Grafana", "Genesys", "Freshdesk", "Sametime", "Jamf", "Postman", "Asana", "Miro", "Kibana",
    "Bloomberg", "Siebel", "Putty", "Figma", "Sage", "Nagios", "Jenkins", "Veeam", "Avaya",
    "Cegid", "Coupa", "Concur", "AutoCAD", "Thunderbird", "Photoshop", "Kubernetes", "Ivanti",
    "Visual Studio", "Power BI", "Lotus Notes", "Dynamics",
)  # fmt: skip
PRODUCT_SENTENCES = {
    "en": (
        "{} keeps crashing since this morning, can you help?",
        "I cannot log in to {} anymore.",
        "Please install {} on my new laptop.",
        "Since the update, {} is very slow. Regards",
    ),
    "fr": (
        "{} plante depuis ce matin, pouvez-vous m'aider ?",
        "Je n'arrive plus à me connecter à {}.",
        "Merci d'installer {} sur mon nouveau portable.",
        "Depuis la mise à jour, {} est très lent. Cordialement",
    ),
}


def unlisted_products() -> dict:
    result = {}
    for language, sentences in PRODUCT_SENTENCES.items():
        tagged = []
        for product in UNLISTED_PRODUCTS:
            for sentence in sentences:
                text = sentence.format(product)
                found = find_pii(text, language=language)
                if any(f.entity == "PERSON" for f in found):
                    tagged.append(product)
        mentions = len(UNLISTED_PRODUCTS) * len(sentences)
        result[language] = {"mentions": mentions, "tagged": len(tagged), "products": tagged}
    return result


def names_timing(repeats: int) -> dict:
    return {
        language: {
            "chars": len(ticket),
            "names_off": timing(ticket, repeats, language=language, names=False),
            "names_on": timing(ticket, repeats, language=language, names=True),
        }
        for language, ticket in PLAIN_MEDIAN_TICKETS.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    available = warm_up()  # imports Presidio and loads both spaCy models
    init_seconds = time.perf_counter() - started
    tickets = generate(args.n, args.seed)
    by_language = {lang: score([t for t in tickets if t[2] == lang]) for lang in ("en", "fr", "ar")}
    median = sorted((t[0] for t in tickets), key=len)[len(tickets) // 2]
    results = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": f"python -m benchmarks.pii --n {args.n} --seed {args.seed}",
        "tickets": len(tickets),
        "overall": score(tickets),
        "by_language": by_language,
        "timing": {
            "generated_median": timing(median, names=False),
            "plain_median_ticket": timing(PLAIN_MEDIAN_TICKETS["en"], names=False),
        },
        "names": {
            "available": available,
            "engine_init_seconds": init_seconds if available else None,
            "timing": names_timing(200) if available else None,
            "handwritten": handwritten_false_names() if available else None,
            "unlisted_products": unlisted_products() if available else None,
        },
    }
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "pii.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["overall"], indent=2))
    print(f"report: {render_report()}")


if __name__ == "__main__":
    main()
