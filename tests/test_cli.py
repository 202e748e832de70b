"""The `whyset` command line as a user meets it: exit codes, one-line errors, end-to-end flow. Commands run
in-process with typer's CliRunner (the app translates errors itself, so exit codes and stderr are the real
ones); one test runs the installed entry point to show the same from a separate process."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import load_export
from whyset.cli import app

WHYSET = Path(sys.executable).with_name("whyset")


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(*args: str, cwd: Path) -> Ran:
    """``whyset ARGS`` in ``cwd``, in this process."""
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(app, list(args), prog_name="whyset")
    return Ran(result.exit_code, result.stdout, result.stderr)


def test_entry_point_exit_status_and_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run([str(WHYSET), "import", "sources", "nope.jsonl", "--field", "t", "--dataset", "d"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr) == (1, "error: nope.jsonl: no such file or directory\n")
    assert subprocess.run([str(WHYSET), "info"], cwd=tmp_path, capture_output=True, check=False).returncode == 0


def test_import_export_info_round_trip(tmp_path: Path, esnli_dir: Path):
    assert run("import", "esnli", str(esnli_dir), "--limit", "30", cwd=tmp_path).returncode == 0
    done = run("export", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "version 1.0.0 (new version), licence MIT, examples 30, qa_explanations 90, gold 30" in done.stdout
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


def test_init_sets_the_metadata_the_card_shows(tmp_path: Path, esnli_dir: Path) -> None:
    (tmp_path / "c.bib").write_text("@article{x, title={A <b>corpus</b>}}\n")
    done = run("init", "--name", "nli-why", "--pretty-name", "NLI *why*", "--language", "en", "--language", "de",
               "--task-category", "text-classification", "--citation", "c.bib", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert run("import", "esnli", str(esnli_dir), "--limit", "3", cwd=tmp_path).returncode == 0
    assert run("export", "out", cwd=tmp_path).returncode == 0
    card = (tmp_path / "out" / "README.md").read_text()
    header = card.split("---\n")[1]
    assert "pretty_name: NLI *why*" in header and "- de" in header and "- text-classification" in header
    assert "# NLI \\*why\\* (version 1.0.0)" in card  # user text is escaped in the card body
    assert "@article{x, title={A <b>corpus</b>}}" in card.split("```bibtex")[1]
    bad = run("init", "--language", "English", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: whyset init: field 'languages': Value error, 'English' is not a language " \
                                 "code (e.g. en, de, pt-BR)"
