"""A person's view: headless Chromium (Debian's, driven by Playwright) logs into an annotator's own Label
Studio server, looks at a pre-annotated rationale task, and annotates one as a person does (mouse selection,
label, a changed mind, submit), which ``pull`` must store exactly. Screenshots are kept as test artifacts in
artifacts/ (label-studio-rationale-task.png, label-studio-annotated-by-hand.png)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.test_studio import _add_rationale_candidates
from whyset.annotation.pull import pull
from whyset.annotation.push import Guideline, items_for, push
from whyset.annotation.views import make_view
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.store import CorpusStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@contextmanager
def _task_page(url: str, account: dict, project_id: int, task_id: int, artifact: str) -> Iterator[tuple[Any, Path]]:
    """Chromium logged in as the annotator on their server, showing one task; yields the page and the path
    of the screenshot to keep (removed first, so a stale one never passes)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing (make test installs it: apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / artifact
    shot.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/user/login/")
        page.fill("input[name=email]", account["email"])
        page.fill("input[name=password]", account["password"])
        page.click("button[type=submit]")
        page.wait_for_url(lambda address: "/user/login" not in address, timeout=60_000)
        page.goto(f"{url}/projects/{project_id}/data?tab=0&task={task_id}")
        try:
            yield page, shot
        finally:
            browser.close()


def test_annotator_sees_the_pre_annotated_rationale(studio, esnli_store: CorpusStore) -> None:
    from playwright.sync_api import expect

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

    with _task_page(connection.url, account, project_id, task_id, "label-studio-rationale-task.png") as (page, shot):
        expect(page.get_by_text(source.fields["hypothesis"]).first).to_be_visible(timeout=60_000)
        highlight = page.locator(".htx-highlight", has_text=evidence).first
        expect(highlight).to_be_visible(timeout=60_000)
        expect(page.get_by_text(source.label).first).to_be_visible()
        page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000


# Where a phrase of a text line is on the screen (viewport coordinates), to point the mouse at it.
_PHRASE_BOX = """([line, phrase]) => {
    const node = document.querySelectorAll('.lsf-richtext__line')[line].firstChild;
    const start = node.textContent.indexOf(phrase), range = document.createRange();
    range.setStart(node, start);
    range.setEnd(node, start + phrase.length);
    const box = range.getBoundingClientRect();
    return {left: box.left, right: box.right, middle: box.top + box.height / 2};
}"""


def test_a_person_annotates_in_the_browser_and_pull_stores_exactly_that(studio, store: CorpusStore,
                                                                          esnli_dir: Path) -> None:
    """Mouse-select "long hair" in an e-SNLI premise (offsets 17-26, as checked by hand), mark it as evidence,
    pick a label, change it, submit."""
    from playwright.sync_api import expect

    from whyset.corpora.esnli import import_esnli

    import_esnli(store, esnli_dir, limit=48, explanations=False)
    view = make_view(store, "rationale")
    [item] = [i for i in items_for(store, view) if i.source.fields["premise"].startswith("A white dog with long hair")
              ][:1]
    source = item.source
    account = studio.accounts(["alice"])["alice"]
    report = push(store, studio, "r-hand", view, [item], ["alice"], 1, Guideline("Highlight the evidence.", "1.0"))
    connection = studio.server("alice")
    [task] = store.studio.tasks(connection.server_id, report.projects["alice"])
    first_choice = next(label for label in store.labels if label != source.label)

    with _task_page(connection.url, account, report.projects["alice"], task.task_id,
                    "label-studio-annotated-by-hand.png") as (page, shot):
        premise = page.locator(".lsf-richtext__line").first
        expect(premise).to_have_text(source.fields["premise"], timeout=60_000)
        page.locator(".lsf-label", has_text="evidence").first.click()  # the premise's evidence label
        # select the phrase with the mouse: click before its first letter, shift-click inside its last (in
        # headless Chromium a dragged selection does not extend here; a shift-click does, as on any desktop)
        box = page.evaluate(_PHRASE_BOX, [0, "long hair"])
        page.mouse.click(box["left"] + 1, box["middle"])
        page.keyboard.down("Shift")
        page.mouse.click(box["right"] - 1, box["middle"])
        page.keyboard.up("Shift")
        expect(page.locator(".htx-highlight", has_text="long hair")).to_be_visible(timeout=30_000)
        choices = page.locator(".lsf-choices").first
        choices.locator("label", has_text=first_choice).click()
        choices.locator("label", has_text=source.label).click()  # a changed mind: the label choice changes
        expect(choices.locator(f"input[name='{source.label}']")).to_be_checked()
        page.screenshot(path=str(shot), full_page=True)
        page.get_by_role("button", name="Submit current annotation").click()
        admin, deadline = studio.client("alice"), time.monotonic() + 60
        while not admin.changed_tasks(report.projects["alice"], having="total_annotations"):
            assert time.monotonic() < deadline, "the submitted annotation never reached the server"
            time.sleep(0.5)
    assert shot.stat().st_size > 20_000

    pulled = pull(store, studio, "r-hand")
    assert pulled.statuses == {"valid": 1}, pulled.problems
    [record] = store.iter_explanations("annotation", round_id="r-hand")
    assert record.explanation == Rationale(spans=[Span(field="premise", start=17, end=26, text="long hair")],
                                           label=source.label)
    assert record.provenance.agent_id == "alice" and record.lead_time and record.lead_time > 0
