"""The chat page in a real headless Chromium, against the agent started by its CLI command."""

import os
import shutil

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
