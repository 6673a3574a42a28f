"""The chat page in a real headless Chromium, against the agent started by its CLI command."""

import os
import re
import shutil
from contextlib import contextmanager

import httpx
import pytest

from tests.conftest import free_port, start_service

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
EMAIL = "sarah.connor@example.com"


@pytest.fixture
def agent_url(model_services, tmp_path):
    port = free_port()
    server = start_service(
        "agent",
        port,
        tmp_path,
        "--tfidf-url",
        model_services["tfidf"],
        "--transformer-url",
        model_services["transformer"],
    )
    yield f"http://127.0.0.1:{port}"
    log = server.output()
    server.stop()
    assert "classified: model=" in log and EMAIL not in log  # nor in the agent's own log


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="apt-get install chromium"
)
def test_ticket_with_an_email_gets_a_masked_answer_in_the_browser(agent_url):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.goto(agent_url + "/")
            expect(page).to_have_title("CallCenterAI: ticket triage")
            page.fill("#ticket", f"My laptop screen is broken, please write to {EMAIL}")
            page.click("#send")
            reply = page.locator('[data-testid="reply"]')
            expect(reply).to_have_count(1, timeout=20_000)
            expect(reply.locator(".scrubbed")).to_contain_text("[EMAIL]")
            expect(reply.locator(".scrubbed")).not_to_contain_text(EMAIL)
            expect(reply.locator(".masked")).to_have_text("1 EMAIL")
            expect(reply.locator(".model")).to_contain_text("callcenterai-")
            expect(reply.locator(".reason")).to_contain_text("answered")
            assert reply.locator(".category .label").inner_text() in {
                "Access", "Administrative rights", "HR Support", "Hardware",
                "Internal Project", "Miscellaneous", "Purchase", "Storage",
            }  # fmt: skip
            # The ticket bubble echoes what the user typed; the reply never does.
            assert EMAIL not in reply.inner_text()

            page.fill("#ticket", "   ")  # blank: the page sends nothing
            page.click("#send")
            expect(reply).to_have_count(1)
        finally:
            browser.close()


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="apt-get install chromium"
)
def test_page_says_when_only_tfidf_can_answer(model_services, tmp_path):
    """The transformer service is down (as before its first model on a first start): the page
    says TF-IDF answers alone, and the answer's reason says why the transformer did not."""
    from playwright.sync_api import expect, sync_playwright

    port = free_port()
    server = start_service(
        "agent", port, tmp_path,
        "--tfidf-url", model_services["tfidf"],
        "--transformer-url", f"http://127.0.0.1:{free_port()}",  # nothing listens there
    )  # fmt: skip
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                notice = page.locator("#notice")
                expect(notice).to_be_visible(timeout=10_000)
                expect(notice).to_have_text(
                    "The transformer service is not available: TF-IDF answers every ticket "
                    "until it is ready."
                )
                page.select_option("#force", "transformer")
                page.fill("#ticket", "My laptop screen is broken")
                page.click("#send")
                expect(page.locator('[data-testid="error"]')).to_contain_text("503")
            finally:
                browser.close()
    finally:
        server.stop()


KEY = "review-desk-key"
TICKETS = [
    "My laptop screen is broken and stays black",
    "I cannot log in to my account, please reset my password",
    "Please grant me administrator rights to install Python",
    "Question about my payslip and my holiday allowance",
    "We need to order three new monitors for the team",
    "The shared drive is full, I need more storage space",
    "Any news on the internal project migration planning?",
    f"My keyboard does not work, write to {EMAIL}",
    "Mon écran reste noir depuis ce matin",
    "The printer on the second floor is jammed again",
    "hello",
]


@contextmanager
def chromium_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def stored(url: str, ticket_id: str, key: str | None = None) -> dict:
    headers = {"X-API-Key": key} if key else {}
    response = httpx.get(f"{url}/tickets/{ticket_id}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="apt-get install chromium"
)
def test_reply_shows_the_alternatives_and_takes_a_correction(agent_url):
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(agent_url + "/")
        page.fill("#ticket", "My laptop screen is broken and the keyboard does not work")
        page.click("#send")
        reply = page.locator('[data-testid="reply"]')
        expect(reply).to_have_count(1, timeout=20_000)
        alternatives = reply.locator(".alternatives .alternative")
        expect(alternatives).to_have_count(3)
        labels = alternatives.locator(".label").all_inner_texts()
        shown = alternatives.locator(".probability").all_inner_texts()
        assert all(re.fullmatch(r"\d{1,3}(\.\d)? %", text) for text in shown), shown
        percents = [float(text.removesuffix(" %")) for text in shown]
        assert percents == sorted(percents, reverse=True) and sum(percents) <= 100.5
        predicted = reply.locator(".category .label").inner_text()
        assert labels[0] == predicted and len(set(labels)) == 3

        # The page shows what the store holds for this ticket.
        ticket_id = reply.get_attribute("data-ticket-id")
        assert re.fullmatch(r"[0-9a-f]{32}", ticket_id or "")
        ticket = stored(agent_url, ticket_id)
        assert [a["label"] for a in ticket["alternatives"]] == labels
        for text, alternative in zip(percents, ticket["alternatives"]):
            assert abs(text - 100 * alternative["probability"]) <= 0.51
        assert ticket["correction"] is None

        button = reply.locator("button.correct")
        status = reply.locator(".feedback-status")
        expect(button).to_have_text("Confirm")
        assert reply.locator("select.correct-label option").evaluate_all(
            "options => options.map(o => o.value)"
        ) == labels  # fmt: skip
        reply.locator("select.correct-label").select_option(labels[1])
        expect(button).to_have_text("Correct")
        button.click()
        expect(status).to_have_text(f"Recorded: {labels[1]} (the model said {predicted})")
        assert stored(agent_url, ticket_id)["correction"] == labels[1]

        # Second thoughts: the model was right after all.
        reply.locator("select.correct-label").select_option(predicted)
        expect(button).to_have_text("Confirm")
        button.click()
        expect(status).to_have_text(f"Updated: {predicted} (was {labels[1]}; the model was right)")
        assert stored(agent_url, ticket_id)["correction"] == predicted


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="apt-get install chromium"
)
def test_review_queue_pages_sorts_and_takes_corrections(model_services, tmp_path):
    """Every answer needs review (threshold 0.999) and the agent wants an API key: the panel
    says 401 without it, then lists the queue most uncertain first, ten at a time; a ticket
    corrected in the panel or in its reply leaves the queue, and the store has the correction."""
    from playwright.sync_api import expect

    port = free_port()
    env = {**os.environ, "CALLCENTERAI_REVIEW_MIN_CONFIDENCE": "0.999", "CALLCENTERAI_API_KEY": KEY}
    server = start_service(
        "agent", port, tmp_path,
        "--tfidf-url", model_services["tfidf"],
        "--transformer-url", model_services["transformer"],
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": KEY}
    try:
        answers = []
        for text in TICKETS:
            response = httpx.post(
                f"{url}/classify", json={"text": text}, headers=headers, timeout=20
            )
            assert response.status_code == 200, response.text
            answers.append(response.json())
        with chromium_page() as page:
            page.goto(url + "/")
            items = page.locator('#review-list [data-testid="review-item"]')
            status = page.locator("#review-status")
            waiting = page.locator("#review-waiting")
            page.click("#review-open")
            expect(page.locator("#review")).to_be_visible()
            expect(status).to_contain_text("Error 401: missing or wrong API key")
            expect(items).to_have_count(0)

            # The twelfth ticket goes through the page, with the key.
            page.fill("#api-key", KEY)
            page.fill("#ticket", "The projector in the meeting room shows nothing")
            page.click("#send")
            reply = page.locator('[data-testid="reply"]')
            expect(reply).to_have_count(1, timeout=20_000)
            reply_id = reply.get_attribute("data-ticket-id")
            answers.append(stored(url, reply_id, KEY))

            page.click("#review-open")
            expect(items).to_have_count(10)
            expect(waiting).to_have_text(str(len(answers)))
            expect(page.locator("#review-more")).to_be_visible()
            page.click("#review-more")
            expect(items).to_have_count(len(answers))
            expect(page.locator("#review-more")).to_be_hidden()

            ids = items.evaluate_all("nodes => nodes.map(n => n.dataset.ticketId)")
            confidences = [float(c) for c in items.evaluate_all(
                "nodes => nodes.map(n => n.dataset.confidence)"
            )]  # fmt: skip
            by_id = {answer["ticket_id"]: answer for answer in answers}
            assert sorted(ids) == sorted(by_id)  # each ticket once, none missing
            assert confidences == [by_id[i]["confidence"] for i in ids]
            assert confidences == sorted(confidences) and len(set(confidences)) > 1
            for item in items.all():
                expect(item.locator('.reason[data-reason="low_confidence"]')).to_have_text(
                    "low confidence"
                )
            texts = items.locator(".text").all_inner_texts()
            assert any("[EMAIL]" in text for text in texts)
            assert not any(EMAIL in text for text in texts)  # scrubbed text only

            # Corrected in its reply: the ticket leaves the panel too.
            reply.locator("select.correct-label").select_option(index=1)
            reply_label = reply.locator("select.correct-label").input_value()
            reply.locator("button.correct").click()
            expect(reply.locator(".feedback-status")).to_contain_text(f"Recorded: {reply_label}")
            expect(waiting).to_have_text(str(len(answers) - 1))
            expect(page.locator(f'#review-list [data-ticket-id="{reply_id}"]')).to_have_count(0)

            # Corrected in the panel: the most uncertain ticket that is left.
            first = items.first
            ticket_id = first.get_attribute("data-ticket-id")
            predicted = first.locator(".category .label").inner_text()
            label = first.locator("select.correct-label option").nth(1).get_attribute("value")
            assert label != predicted
            first.locator("select.correct-label").select_option(label)
            first.locator("button.correct").click()
            expect(status).to_have_text(f"Recorded: {label} (the model said {predicted})")
            expect(waiting).to_have_text(str(len(answers) - 2))
            expect(items).to_have_count(len(answers) - 2)
            expect(page.locator(f'#review-list [data-ticket-id="{ticket_id}"]')).to_have_count(0)

            # Reopened, the panel reads the store again: both stay out of the queue.
            page.click("#review-open")
            expect(items).to_have_count(10)
            expect(waiting).to_have_text(str(len(answers) - 2))
            shown = items.evaluate_all("nodes => nodes.map(n => n.dataset.ticketId)")
            assert ticket_id not in shown and reply_id not in shown

        assert stored(url, ticket_id, KEY)["correction"] == label
        assert stored(url, reply_id, KEY)["correction"] == reply_label
        queue = httpx.get(f"{url}/tickets/review?limit=100", headers=headers, timeout=10).json()
        assert queue["waiting"] == len(answers) - 2
        assert {t["ticket_id"] for t in queue["tickets"]} == set(by_id) - {ticket_id, reply_id}
    finally:
        log = server.output()
        server.stop()
    assert EMAIL not in log and KEY not in log


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="apt-get install chromium"
)
def test_without_a_store_the_page_offers_no_correction(model_services, tmp_path):
    from playwright.sync_api import expect

    port = free_port()
    server = start_service(
        "agent", port, tmp_path,
        "--tfidf-url", model_services["tfidf"],
        "--transformer-url", model_services["transformer"],
        env={**os.environ, "CALLCENTERAI_STORE_ENABLED": "false"},
    )  # fmt: skip
    try:
        with chromium_page() as page:
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#ticket", "My laptop screen is broken")
            page.click("#send")
            reply = page.locator('[data-testid="reply"]')
            expect(reply).to_have_count(1, timeout=20_000)
            expect(reply.locator(".alternative")).to_have_count(3)
            expect(reply.locator(".store-off")).to_contain_text("ticket store is off")
            expect(reply.locator("button.correct")).to_have_count(0)
            page.click("#review-open")
            expect(page.locator("#review-status")).to_contain_text(
                "Error 503: the ticket store is switched off"
            )
            expect(page.locator('[data-testid="review-item"]')).to_have_count(0)
            expect(page.locator("#review-more")).to_be_hidden()
    finally:
        server.stop()
