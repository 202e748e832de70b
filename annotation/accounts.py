"""Annotator accounts: one Label Studio user per annotator handle, with a password for the web UI and an
API token, kept in ``annotators.json`` (mode 600) in the studio home, never in the corpus store (the store's
exports must not carry credentials or e-mail addresses)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from pathlib import Path

from whyset.annotation.client import StudioClient
from whyset.annotation.push import annotator_email
from whyset.annotation.server import write_private

ACCOUNTS_FILE = "annotators.json"


def load_accounts(home: Path) -> dict[str, dict[str, str]]:
    path = home / ACCOUNTS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def ensure_annotators(client: StudioClient, handles: Sequence[str], home: Path) -> dict[str, dict[str, str]]:
    """Make sure every handle has a working account on the client's server; returns handle -> account."""
    accounts = load_accounts(home)
    for handle in handles:
        account = accounts.get(handle)
        if account is None or account.get("server") != client.server_id:
            password = account["password"] if account else secrets.token_urlsafe(12)
            email = annotator_email(handle)
            token = client.provision_user(email, password)
            accounts[handle] = {"email": email, "password": password, "token": token, "server": client.server_id}
            write_private(home / ACCOUNTS_FILE, accounts)
    return {h: accounts[h] for h in handles}
