"""A thin, error-translating layer over ``label_studio_sdk`` for the few calls whyset makes.

Why a layer at all: SDK/httpx failures surface as tracebacks about sockets and status codes; users need one
line that says which server and what to do. And the SDK retries POSTs on 5xx/409/429 by default, which can
duplicate imported tasks or annotations, so every client here is built with ``max_retries=0`` and whyset's
own reconciliation (see :mod:`whyset.annotation.push`) makes retries safe instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from whyset.errors import ServerUnreachable, WhysetError

if TYPE_CHECKING:
    from whyset.annotation.server import Connection

PAGE_SIZE = 1000
LS_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
EPOCH = "1970-01-01T00:00:00.000000Z"


@contextmanager
def _translated(url: str, action: str) -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:
        raise ServerUnreachable(f"cannot reach Label Studio at {url} while trying to {action} ({type(exc).__name__}); "
                          "is it running? (`whyset studio status`)") from None
    except ApiError as exc:
        if exc.status_code == 401:
            raise ServerUnreachable(f"Label Studio at {url} rejected the API token while trying to {action} "
                              "(wrong token, or legacy tokens disabled on that server)") from None
        body = json.dumps(exc.body)[:300] if exc.body is not None else ""
        raise WhysetError(f"Label Studio at {url} answered {exc.status_code} while trying to {action}: {body}") from None


class StudioClient:
    """Calls against one server as one user (the admin's token unless another is given)."""

    def __init__(self, connection: Connection, token: str | None = None, timeout: float = 600.0):
        self.url = connection.url
        self.server_id = connection.server_id
        self.token = token or connection.token
        # one HTTP client (one connection pool) for the SDK and the raw calls below; certificates are loaded
        # (50 ms) only for https servers
        self.http = httpx.Client(timeout=timeout, follow_redirects=True, headers=self._headers,
                                 verify=self.url.startswith("https:"))
        self.sdk = LabelStudio(base_url=self.url, api_key=self.token, timeout=timeout, max_retries=0,
                               httpx_client=self.http)

    def call(self, action: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one SDK call, turning transport and API errors into one-line WhysetErrors."""
        with _translated(self.url, action):
            return fn(*args, **kwargs)

    def whoami(self) -> dict[str, Any]:
        user = self.call("check the token", self.sdk.users.whoami)
        return {"id": user.id, "email": user.email}

    # -- projects -----------------------------------------------------------------------------------
    def find_project(self, title: str) -> int | None:
        """A project by exact title: titles carry whyset's project key, so a lost local record is found again."""
        projects = self.call("list projects", lambda: list(self.sdk.projects.list(title=title, page_size=100)))
        matches = [p.id for p in projects if p.title == title]
        return min(matches) if matches else None

    def create_project(self, title: str, config: str, instruction: str, description: str) -> int:
        project = self.call(f"create project {title!r}", self.sdk.projects.create, title=title, label_config=config,
                            expert_instruction=instruction, show_instruction=True, description=description,
                            show_skip_button=True, maximum_annotations=1)
        return project.id

    def task_count(self, project_id: int) -> int:
        """How many tasks the project holds: one cheap call (~0.1 s at 10,000 tasks), where listing them costs
        3-9 ms per task."""
        return self._raw_get("/api/tasks", {"project": project_id, "page_size": 1, "fields": "task_only"})["total"]

    def task_keys(self, project_id: int) -> dict[str, int]:
        """``whyset_key`` -> task id for every task already in the project (the reconciliation step)."""
        keys: dict[str, int] = {}
        with _translated(self.url, f"list tasks of project {project_id}"):
            for task in self.sdk.tasks.list(project=project_id, page_size=PAGE_SIZE, fields="task_only",
                                            resolve_uri=False):
                key = (task.data or {}).get("whyset_key")
                if key is not None:
                    keys.setdefault(key, task.id)
        return keys

    def changed_tasks(self, project_id: int, since: str | None = None, having: str | None = None) -> list[dict]:
        """Tasks of the project, with their annotations and predictions, updated at or after ``since`` (Label
        Studio's clock, :func:`ls_time` format); ``having`` keeps tasks whose count column of that name is
        positive (``total_annotations``, ``cancelled_annotations``).

        Keyset pagination on ``updated_at``, not page numbers: a task edited while we page moves to the end
        of the order and is read again there, so no task is ever skipped. Each task comes once, newest."""
        found: dict[int, dict] = {}
        cursor, page = since or EPOCH, 1
        while True:
            items = [{"filter": "filter:tasks:updated_at", "operator": "greater_or_equal", "type": "Datetime",
                      "value": cursor}]
            if having:
                items.append({"filter": f"filter:tasks:{having}", "operator": "greater", "type": "Number",
                              "value": 0})
            query = {"filters": {"conjunction": "and", "items": items}, "ordering": ["tasks:updated_at"]}
            batch = self._raw_get("/api/tasks", {"project": project_id, "fields": "all", "page_size": PAGE_SIZE,
                                                 "page": page, "resolve_uri": "false", "query": json.dumps(query)},
                                  missing_ok=True)
            tasks = batch["tasks"] if batch else []
            for task in tasks:
                found[task["id"]] = task
            if len(tasks) < PAGE_SIZE:
                return list(found.values())
            last = ls_time(tasks[-1]["updated_at"])
            cursor, page = (cursor, page + 1) if last == cursor else (last, 1)  # a full page of one instant: page on

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        response = self.call(f"import {len(tasks)} tasks into project {project_id}", self.sdk.projects.import_tasks,
                             project_id, request=tasks, return_task_ids=True)
        return list(response.task_ids or [])

    def annotate(self, task_id: int, result: list[dict[str, Any]], lead_time: float | None = None) -> int:
        annotation = self.call(f"submit an annotation to task {task_id}", self.sdk.annotations.create, task_id,
                               result=result, lead_time=lead_time)
        return annotation.id

    def snapshot(self, project_id: int, poll: float = 0.5, timeout: float = 600.0) -> list[dict[str, Any]]:
        """Full JSON snapshot: prediction bodies and annotators' identities, not just their ids."""
        options = {"predictions": {"only_id": False}, "annotations__completed_by": {"only_id": False}}
        action = f"export project {project_id}"
        export = self.call(action, self.sdk.projects.exports.create, project_id, title="whyset pull",
                           serialization_options=options)
        deadline = time.monotonic() + timeout
        while (state := self.call(action, self.sdk.projects.exports.get, project_id, export.id)).status != "completed":
            if state.status == "failed" or time.monotonic() > deadline:
                raise WhysetError(f"Label Studio at {self.url}: snapshot export of project {project_id} {state.status}")
            time.sleep(poll)
        with _translated(self.url, action):
            blob = b"".join(self.sdk.projects.exports.download(project_id, export.id, export_type="JSON"))
        return json.loads(blob)

    # -- users and tasks by id -------------------------------------------------------------------------
    def users(self) -> dict[str, int]:
        return {u.email: u.id for u in self.call("list users", lambda: list(self.sdk.users.list()))}

    def version(self) -> str:
        return self._raw_get("/api/version/").get("release", "unknown")

    def withdraw_task(self, task_id: int) -> str:
        """Delete a task from its project unless its annotator has started on it: ``deleted``, ``gone`` (it
        was not there any more) or ``kept`` (it has an annotation or a skip, which the next pull reads)."""
        task = self._raw_get(f"/api/tasks/{task_id}/", missing_ok=True)
        if task is None:
            return "gone"
        if task.get("total_annotations") or task.get("cancelled_annotations"):
            return "kept"
        with _translated(self.url, f"delete task {task_id}"):
            answer = self.http.delete(f"{self.url}/api/tasks/{task_id}/", timeout=60)
        if answer.status_code not in (204, 404):
            raise WhysetError(f"Label Studio at {self.url}: deleting task {task_id} answered {answer.status_code}")
        return "deleted"

    def provision_user(self, email: str, password: str, close_invite: bool = True) -> str:
        """Create (or log in) an annotator through the organization's invite link; returns their API token.

        The users API ignores passwords and leaves new users without an organization, so a user made that way
        can neither log in nor call the API. Signing up through the invite link is what a person would do,
        works against any server the admin can reach, and yields a usable account and legacy token. On a
        server of one annotator the invite link is then reset (``close_invite``): nobody else can sign up, and
        the old link, which the server's log shows in clear, is dead.
        """
        org_token = self._raw_get("/api/invite")["token"]
        with httpx.Client(base_url=self.url, follow_redirects=True, timeout=60) as web, \
                _translated(self.url, f"sign up {email}"):
            if email not in self.users():
                signup = f"/user/signup/?token={org_token}"
                web.get(signup)
                web.post(signup, data={"email": email, "password": password,
                                       "csrfmiddlewaretoken": web.cookies.get("csrftoken", "")},
                         headers={"Referer": f"{self.url}{signup}"})
            else:
                web.get("/user/login/")
                web.post("/user/login/", data={"email": email, "password": password,
                                               "csrfmiddlewaretoken": web.cookies.get("csrftoken", "")},
                         headers={"Referer": f"{self.url}/user/login/"})
            answer = web.get("/api/current-user/token")
        if answer.status_code != 200 or "token" not in answer.json():
            raise WhysetError(f"Label Studio at {self.url}: could not sign up or log in {email} "
                              f"(status {answer.status_code}); if the user exists, its password differs")
        if close_invite:
            with _translated(self.url, "reset the invite link"):
                reset = self.http.post(f"{self.url}/api/invite/reset-token", timeout=60)
            if reset.status_code >= 300:
                raise WhysetError(f"Label Studio at {self.url}: resetting the invite link answered {reset.status_code}")
        return answer.json()["token"]

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def _raw_get(self, path: str, params: dict[str, Any] | None = None, missing_ok: bool = False) -> Any:
        with _translated(self.url, f"GET {path}"):
            answer = self.http.get(f"{self.url}{path}", params=params)
        if answer.status_code == 404 and missing_ok:
            return None
        if answer.status_code == 401:
            raise ServerUnreachable(f"Label Studio at {self.url} rejected the API token on GET {path} "
                                    "(wrong token, or legacy tokens disabled on that server)")
        if answer.status_code != 200:
            raise WhysetError(f"Label Studio at {self.url}: GET {path} answered {answer.status_code}")
        return answer.json()


def ls_time(value: str) -> str:
    """A Label Studio timestamp in the one format its task filters accept (:data:`LS_TIME`, UTC):
    its API drops the fraction when the microseconds are 0, and the filter then answers HTTP 500."""
    return datetime.fromisoformat(value).astimezone(UTC).strftime(LS_TIME)


def ls_time_minus(value: str, seconds: float) -> str:
    return (datetime.strptime(value, LS_TIME) - timedelta(seconds=seconds)).strftime(LS_TIME)
