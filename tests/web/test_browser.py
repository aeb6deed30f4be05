"""A real browser (Debian's Chromium via Playwright): the whole journey of a new runner."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from strideguard.app import App
from strideguard.settings import Settings
from strideguard.web.app import create_app
from tests.web.conftest import PASSWORD, RUN, RUN_2

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    core = App(Settings(data_dir=tmp_path / "data", import_workers=1, secret_key="browser"))
    port = _free_port()
    config = uvicorn.Config(create_app(core), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=20)
    core.close()


def test_sign_up_upload_findings_settings_export_delete(
    server: str, samples_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # First run: create the account.
            page.goto(server + "/")
            expect(page).to_have_url(server + "/setup")
            page.fill("input[name=email]", "runner@example.com")
            page.fill("input[name=display_name]", "Runner")
            page.fill("input[name=time_zone]", "Europe/Copenhagen")
            page.fill("input[name=password]", PASSWORD)
            page.fill("input[name=password_again]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(server + "/upload")

            # Upload two real FIT files; each gets its own progress and result.
            page.set_input_files("#files", [str(samples_dir / RUN), str(samples_dir / RUN_2)])
            expect(page.locator("#done")).to_be_visible(timeout=60_000)
            results = page.locator("#uploads li")
            expect(results).to_have_count(2)
            expect(page.locator(".status-imported")).to_have_count(2)
            expect(page.locator(".findings-ready")).to_have_count(2)

            # The findings on the home page, expandable to their numbers and citation.
            page.click("#done a")
            finding = page.locator("#findings details").first
            expect(finding).to_be_visible()
            finding.locator("summary").click()
            expect(finding.locator(".cite")).to_be_visible()
            expect(page.locator("#activities tbody tr")).to_have_count(2)

            # Change a setting.
            page.click("nav >> text=Settings")
            page.select_option("select[name=units]", "mi")
            page.fill("input[name=strength_goal]", "3")
            page.click("#profile-form button[type=submit]")
            expect(page.locator(".flash")).to_contain_text("Profile saved")
            expect(page.locator("select[name=units]")).to_have_value("mi")
            page.goto(server + "/")
            expect(page.locator("#activities")).to_contain_text(" mi")

            # Export everything.
            page.goto(server + "/data")
            with page.expect_download() as download_info:
                page.click("#export")
            target = tmp_path / "export.zip"
            download_info.value.save_as(target)
            assert target.stat().st_size > 1000

            # Delete the account (password again).
            page.fill("#delete-form input[name=password]", PASSWORD)
            page.click("#delete-form button[type=submit]")
            expect(page.locator("h1")).to_have_text("Account deleted")
            page.goto(server + "/")
            expect(page).to_have_url(server + "/setup")
            assert errors == []
        finally:
            browser.close()
