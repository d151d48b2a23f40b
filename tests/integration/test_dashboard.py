"""The dashboard (`/dashboard`) in a real browser: Debian's chromium driven by Playwright, against the real API
process over data the real indexer put in OpenSearch. What it shows is checked against the model of the rows; each
test saves screenshots in .test-artifacts/dashboard/."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from runsearch.demo.dataset import History, final_rows, generate
from tests.conftest import isolated_settings
from tests.harness import indexed, served_api
from tests.model import expected, search

CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (`make test` installs it)")]
SHOTS = Path(__file__).parents[2] / ".test-artifacts" / "dashboard"
ORG = "o_0000"


@dataclass(frozen=True)
class Served:
    base_url: str
    history: History
    model: dict[str, dict]

    @property
    def key(self) -> str:
        return self.history.api_keys[ORG]


@pytest.fixture(scope="module")
def served(servers: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = isolated_settings(servers)
    history = generate(runs=150, organizations=2, seed=51, secret=settings.jwt_secret.get_secret_value())
    indexed(settings, history.changes)
    with served_api(settings, tmp_path_factory.mktemp("api") / "api.log") as base:
        yield Served(base, history, expected(final_rows(history.changes)))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])  # as root here
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    context = browser.new_context(timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.on("dialog", lambda dialog: pytest.fail(f"the page opened a dialog: {dialog.message}"))  # injected script
    opened.goto(f"{served.base_url}/dashboard")
    yield opened
    context.close()


def use_key(page: Page, key: str) -> None:
    page.fill("#key", key)
    page.click("#use-key")


def listed(page: Page) -> list[str]:
    return page.locator("#runs tbody tr td:first-child").all_inner_texts()


def test_a_bad_key_is_refused_in_words(page: Page) -> None:
    use_key(page, "not-a-key")
    expect(page.locator("#error")).to_have_text("Invalid credentials")
    expect(page.locator("#runs tbody tr")).to_have_count(0)
    page.screenshot(path=SHOTS / "bad-key.png", full_page=True)


def test_counts_timeline_and_pages_follow_the_filters(page: Page, served: Served) -> None:
    want = search(served.model, ORG)
    use_key(page, served.key)
    expect(page.locator("#total")).to_have_text(f"{len(want):,}")
    expect(page.locator("#runs tbody tr")).to_have_count(10)
    assert listed(page) == want[:10]
    shown = dict(zip(*(page.locator(f"#by-status td:nth-child({n})").all_inner_texts() for n in (1, 2)), strict=True))
    assert shown == {status: f"{count:,}" for status, count in Counter(served.model[r]["status"] for r in want).items()}
    page.click("#next")
    expect(page.locator("#page-label")).to_have_text("page 2")
    assert listed(page) == want[10:20]
    page.click("#previous")
    expect(page.locator("#page-label")).to_have_text("page 1")
    assert listed(page) == want[:10]
    assert page.evaluate("sessionStorage.getItem('runsearch-key')") == served.key  # kept for this tab only

    # The demo runs were created on 2025-01-01 from 00:00 UTC: 01:00 in Paris, the browser's time zone here.
    page.fill("#from", "2025-01-01T00:00")
    page.fill("#to", "2025-01-01T03:00")
    page.select_option("#interval", "hour")
    expect(page.locator("#chart rect")).to_have_count(3)
    bars = [int(n) for n in page.locator("#chart rect").evaluate_all("bars => bars.map(b => b.dataset.runs)")]
    assert bars == [0, len(want), 0]

    page.check("#statuses input[value=failed]")
    failed = search(served.model, ORG, ["failed"])
    expect(page.locator("#total")).to_have_text(f"{len(failed):,}")
    expect(page.locator("#runs tbody tr")).to_have_count(min(10, len(failed)))
    assert listed(page) == failed[:10]
    page.screenshot(path=SHOTS / "filtered.png", full_page=True)


def test_an_older_answer_arriving_last_never_replaces_a_newer_one(page: Page, served: Served) -> None:
    """Every change of a filter asks again, and answers come back in any order: the page shows the last asked."""
    want = search(served.model, ORG)
    use_key(page, served.key)
    expect(page.locator("#total")).to_have_text(f"{len(want):,}")
    # From now on, answers for the failed runs come back a second late: after those asked after them.
    page.evaluate("""() => {
      const fetched = window.fetch;
      window.fetch = async (...args) => {
        const answer = await fetched(...args);
        if (String(args[0]).includes("status=failed")) await new Promise((done) => setTimeout(done, 1000));
        return answer;
      };
    }""")
    page.check("#statuses input[value=failed]")
    page.uncheck("#statuses input[value=failed]")
    page.wait_for_timeout(1500)  # the late answers have arrived
    expect(page.locator("#total")).to_have_text(f"{len(want):,}")
    assert listed(page) == want[:10]


@pytest.mark.parametrize("term, name", [("<img src=x onerror=alert(1)>", "markup"), ("%", "percent"),
                                        ("\"}", "quote-brace"), ("É", "accent")])
def test_searching_as_you_type_is_literal_and_an_empty_result_says_so(page: Page, served: Served, term: str,
                                                                      name: str) -> None:
    want = search(served.model, ORG, search_key=term)
    use_key(page, served.key)
    expect(page.locator("#total")).to_have_text(f"{len(search(served.model, ORG)):,}")
    page.locator("#search").press_sequentially(term, delay=30)  # typed: each keystroke restarts the search
    expect(page.locator("#total")).to_have_text(f"{len(want):,}")
    expect(page.locator("#runs tbody tr")).to_have_count(min(10, len(want)))
    assert listed(page) == want[:10]
    expect(page.locator("#empty")).to_be_visible(visible=not want)
    page.screenshot(path=SHOTS / f"search-{name}.png", full_page=True)
