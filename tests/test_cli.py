"""The installed `whyset` entry point, run as a user would: exit codes, one-line errors, end-to-end flow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import load_export

WHYSET = Path(sys.executable).with_name("whyset")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(WHYSET), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_import_export_info_round_trip(tmp_path: Path, esnli_dir: Path):
    assert run("import", "esnli", str(esnli_dir), "--limit", "30", cwd=tmp_path).returncode == 0
    done = run("export", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "version 1.0.0 (new version), licence MIT, examples 30, qa_explanations 90" in done.stdout
    again = run("export", "out", cwd=tmp_path)
    assert "version 1.0.0 (unchanged data, same version)" in again.stdout
    assert load_export(tmp_path / "out", "qa_explanations")["validation"].num_rows == 90
    info = run("info", cwd=tmp_path).stdout
    assert "sources: 30" in info and "annotations: 90" in info and "release 1.0.0" in info


def test_bad_input_gives_one_line_error_and_exit_1(tmp_path: Path):
    (tmp_path / "bad.jsonl").write_text('{"t": "fine", "y": "a"}\n{"t": broken}\n')
    done = run("import", "sources", "bad.jsonl", "--field", "text=t", "--label", "y", "--labels", "a,b",
               "--dataset", "toy", "--license", "MIT", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: bad.jsonl:2: invalid JSON (Expecting value at column 7)"]
    assert "Traceback" not in done.stderr


def test_unknown_licence_id_is_rejected(tmp_path: Path):
    (tmp_path / "rows.jsonl").write_text(json.dumps({"t": "x"}) + "\n")
    done = run("import", "sources", "rows.jsonl", "--field", "text=t", "--dataset", "toy",
               "--license", "Totally-Free", cwd=tmp_path)
    assert done.returncode == 1 and "not an SPDX licence id" in done.stderr


def test_export_of_unlicensed_data_fails_and_writes_nothing(tmp_path: Path):
    (tmp_path / "rows.jsonl").write_text(json.dumps({"t": "x", "y": "a"}) + "\n")
    assert run("import", "sources", "rows.jsonl", "--field", "text=t", "--label", "y", "--labels", "a",
               "--dataset", "toy", cwd=tmp_path).returncode == 0
    done = run("export", "out", cwd=tmp_path)
    assert done.returncode == 1 and "have no licence, e.g. toy:train:0" in done.stderr
    assert not (tmp_path / "out").exists()
