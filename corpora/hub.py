"""Publish an exported dataset directory to the Hugging Face Hub, one tag per released version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from huggingface_hub import HfApi

from whyset.errors import WhysetError


class HubApi(Protocol):
    """The part of ``huggingface_hub.HfApi`` that publishing uses (tests pass a recorder)."""

    def create_repo(self, repo_id: str, **kwargs: object) -> object: ...
    def upload_folder(self, **kwargs: object) -> object: ...
    def create_tag(self, repo_id: str, **kwargs: object) -> None: ...


def exported_version(out_dir: Path) -> str:
    """The dataset version recorded by ``whyset export`` in the directory's provenance file."""
    path = out_dir / "provenance.json"
    if not path.exists():
        raise WhysetError(f"{path}: missing; run 'whyset export' into {out_dir} first")
    return json.loads(path.read_text(encoding="utf-8"))["dataset_version"]


def publish(out_dir: Path, repo_id: str, *, private: bool = False, api: HubApi | None = None) -> str:
    """Upload ``out_dir`` to the dataset repo ``repo_id`` and tag the commit ``v<version>``; returns the tag."""
    version = exported_version(out_dir)
    api = api or HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id, repo_type="dataset", folder_path=str(out_dir),
        commit_message=f"whyset export {version}", ignore_patterns=[".git/*", ".*"],
    )
    tag = f"v{version}"
    api.create_tag(repo_id, repo_type="dataset", tag=tag, revision=commit.oid,
                   tag_message=f"dataset version {version}")
    return tag
