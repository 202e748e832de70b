"""Blind means blind, on real Label Studio servers: an annotator's token and logged-in browser session open
nothing of another annotator's; pull refuses work by anyone but the project's annotator; the studio home is
owner-only; every server has an identity of its own; a stale PID is never trusted; a killed sign-up recovers."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from whyset.annotation import server
from whyset.annotation.client import StudioClient
from whyset.annotation.pull import pull
from whyset.annotation.push import Guideline, items_for, push
from whyset.annotation.studio import Studio
from whyset.annotation.views import make_view
from whyset.corpora.store import CorpusStore
from whyset.errors import ServerUnreachable

GUIDE = Guideline("Explain the label.", "1")


def _login(url: str, email: str, password: str) -> httpx.Client:
    """A browser-like session: the login form, its CSRF cookie, the session cookie."""
    web = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    web.get("/user/login/")
    answer = web.post("/user/login/", data={"email": email, "password": password,
                                           "csrfmiddlewaretoken": web.cookies.get("csrftoken", "")},
                      headers={"Referer": f"{url}/user/login/"})
    assert answer.status_code == 302, "the annotator can log in on their own server"
    return web


def test_annotators_cannot_see_or_change_each_others_work(studio: Studio, esnli_store: CorpusStore) -> None:
    view = make_view(esnli_store, "freetext")
    accounts = studio.accounts(["alice", "bob"])
    report = push(esnli_store, studio, "blind", view, items_for(esnli_store, view, limit=3), ["alice", "bob"], 2,
                  GUIDE)
    bob_server, bob_project = studio.server("bob"), report.projects["bob"]
    [bob_task, *_] = [t.task_id for t in esnli_store.studio.tasks(bob_server.server_id, bob_project)]
    as_bob = studio.client("bob", as_annotator=True)
    bob_annotation = as_bob.annotate(bob_task, [{"from_name": "explanation", "to_name": "premise",
                                                 "type": "textarea", "value": {"text": ["bob's own words"]}}])
    before = studio.client("bob").snapshot(bob_project)

    alice_token = {"Authorization": f"Token {accounts['alice']['token']}"}
    alice_session = _login(studio.server("alice").url, accounts["alice"]["email"], accounts["alice"]["password"])
    attempts = [("GET", "/api/projects/"), ("GET", f"/api/projects/{bob_project}/"),
                ("GET", f"/api/tasks/?project={bob_project}"), ("GET", f"/api/tasks/{bob_task}/"),
                ("GET", f"/api/annotations/{bob_annotation}/"), ("GET", f"/api/projects/{bob_project}/export"),
                ("GET", f"/api/dm/project?project={bob_project}"), ("GET", "/api/users/"),
                ("POST", f"/api/tasks/{bob_task}/annotations/"), ("PATCH", f"/api/annotations/{bob_annotation}/"),
                ("PATCH", f"/api/projects/{bob_project}/"), ("DELETE", f"/api/annotations/{bob_annotation}/"),
                ("DELETE", f"/api/projects/{bob_project}/"), ("POST", "/api/tasks/")]
    body = {"result": [], "title": "pwned", "project": bob_project, "data": {"premise": "x"}}
    with httpx.Client(base_url=bob_server.url, timeout=60) as other:
        for method, path in attempts:
            by_token = other.request(method, path, headers=alice_token, json=body)
            by_session = other.request(method, path, cookies=alice_session.cookies, json=body)
            pages = other.get(f"/projects/{bob_project}/data", cookies=alice_session.cookies)
            assert by_token.status_code in (401, 403), (method, path, by_token.status_code)
            assert by_session.status_code in (401, 403, 302), (method, path, by_session.status_code)
            assert pages.status_code == 302 and "/user/login" in pages.headers["location"]
    alice_session.close()
    assert studio.client("bob").snapshot(bob_project) == before  # bob's work is exactly as he left it
    # alice's own server holds only alice and whyset's admin
    users = {u.email for u in studio.client("alice", as_annotator=True).sdk.users.list()}
    assert users == {"alice@whyset.local", "admin@whyset.local"}

    # work in alice's project by anyone but alice (here whyset's own admin) is kept aside, never stored as hers
    [alice_task, *_] = [t.task_id for t in esnli_store.studio.tasks(studio.server("alice").server_id,
                                                                     report.projects["alice"])]
    studio.client("alice").annotate(alice_task, [{"from_name": "explanation", "to_name": "premise",
                                                  "type": "textarea", "value": {"text": ["not alice"]}}])
    pulled = pull(esnli_store, studio, "blind")
    assert pulled.statuses == {"valid": 1, "invalid": 1}
    [foreign] = esnli_store.studio.results("blind", ["invalid"])
    assert foreign.problem == "annotation by 'admin@whyset.local' in the project of 'alice'"
    assert {r.provenance.agent_id for r in esnli_store.iter_explanations("annotation", round_id="blind")} == {"bob"}

    # nothing in the studio home is readable by another user: the database holds every token in clear
    exposed = [str(path.relative_to(studio.home)) for path in studio.home.rglob("*")
               if not path.is_symlink() and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)]
    assert exposed == []
    assert (studio.home / "servers" / "alice" / "data" / "label_studio.sqlite3").stat().st_mode & 0o777 == 0o600


def test_every_server_has_its_own_identity(tmp_path: Path, esnli_store: CorpusStore) -> None:
    first, second = Studio.open(tmp_path / "one"), Studio.open(tmp_path / "two")
    try:
        a, b = first.server("alice"), second.server("alice")  # both copies of the one migrated template
        assert a.server_id != b.server_id and a.token != b.token
        assert not (Path(a.data_dir) / ".env").exists() or (Path(a.data_dir) / ".env").read_bytes() != \
            (Path(b.data_dir) / ".env").read_bytes()  # a Django secret key each
        with pytest.raises(ServerUnreachable, match="rejected the API token"):
            StudioClient(server.Connection(url=b.url, token=a.token, server_id=a.server_id)).whoami()
        # a studio home whose record points at the other server (its port reused, say) refuses to push there
        first.servers["alice"] = server.Connection(**(a.as_dict() | {"url": b.url}))
        view = make_view(esnli_store, "freetext")
        with pytest.raises(ServerUnreachable, match="rejected the API token"):
            push(esnli_store, first, "r", view, items_for(esnli_store, view, limit=2), ["alice"], 1, GUIDE)
        assert esnli_store.count("studio_projects") == 0
        first.servers["alice"] = a
    finally:
        first.down()
        second.down()


def test_a_stale_pid_is_neither_trusted_nor_signalled(tmp_path: Path) -> None:
    unrelated = subprocess.Popen(["sleep", "120"])
    try:
        started = psutil.Process(unrelated.pid).create_time()
        home = tmp_path / "studio"
        for record in ({"pid": unrelated.pid, "started": started},  # a live process, but not Label Studio
                       {"pid": unrelated.pid, "started": started - 3600}):  # the PID of a server long gone
            server.write_private(home / "servers.json", {"database": None, "servers": {"alice": {
                "url": "http://127.0.0.1:9", "token": "t", "server_id": "local-x", **record}}})
            studio = Studio.open(home)
            assert studio.servers == {}  # forgotten, not trusted
            assert studio.down() == []
            assert json.loads((home / "servers.json").read_text())["servers"] == {}
        time.sleep(0.2)
        assert unrelated.poll() is None  # never signalled
    finally:
        unrelated.kill()
        unrelated.wait()


def test_a_killed_sign_up_is_finished_by_the_next_call(studio: Studio, monkeypatch) -> None:
    real, calls = StudioClient.provision_user, []

    def sign_up_then_die(self, email, password, close_invite=True):
        calls.append(email)
        real(self, email, password, close_invite=False)  # the server made the user ...
        raise KeyboardInterrupt  # ... and whyset died before it heard back

    monkeypatch.setattr(StudioClient, "provision_user", sign_up_then_die)
    with pytest.raises(KeyboardInterrupt):
        studio.accounts(["erin"])
    monkeypatch.setattr(StudioClient, "provision_user", real)
    saved = json.loads((studio.home / "accounts.json").read_text())["erin"]
    assert saved["password"] and not saved["token"]  # the password was kept before the sign-up
    account = studio.accounts(["erin"])["erin"]
    assert re.fullmatch(r"[0-9a-f]{40}", account["token"])
    assert StudioClient(studio.server("erin"), token=account["token"]).whoami()["email"] == "erin@whyset.local"
