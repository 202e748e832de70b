"""A person's view: headless Chromium (Debian's, driven by Playwright) logs into the local Label Studio as
an annotator, opens a whyset rationale task and screenshots the pre-annotated evidence highlight.
The screenshot is kept as a test artifact in artifacts/label-studio-rationale-task.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_studio import _add_rationale_candidates
from whyset.annotation.push import Guideline, items_for, make_view, push
from whyset.corpora.store import CorpusStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def test_annotator_sees_the_pre_annotated_rationale(studio, esnli_store: CorpusStore) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing (make test installs it: apt-get install chromium)")
    _add_rationale_candidates(esnli_store)
    account = studio.accounts(["alice"])["alice"]
    connection = studio.server("alice")
    view = make_view(esnli_store, "rationale")
    report = push(esnli_store, studio, "r-browser", view, items_for(esnli_store, view, limit=2), ["alice"], 1,
                  Guideline("Highlight the evidence.", "1.0"))
    project_id = report.projects["alice"]
    first = esnli_store.studio.tasks(connection.server_id, project_id)[0]
    task_id, source_id = first.task_id, first.source_id
    source = esnli_store.sources_by_id([source_id])[source_id]
    evidence = next(c for c in esnli_store.iter_explanations("candidate", "rationale")
                    if c.source_id == source_id).explanation.spans[0].text

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "label-studio-rationale-task.png"
    shot.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{connection.url}/user/login/")
        page.fill("input[name=email]", account["email"])
        page.fill("input[name=password]", account["password"])
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/user/login" not in url, timeout=60_000)
        page.goto(f"{connection.url}/projects/{project_id}/data?tab=0&task={task_id}")
        expect(page.get_by_text(source.fields["hypothesis"]).first).to_be_visible(timeout=60_000)
        highlight = page.locator(".htx-highlight", has_text=evidence).first
        expect(highlight).to_be_visible(timeout=60_000)
        expect(page.get_by_text(source.label).first).to_be_visible()
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 20_000
