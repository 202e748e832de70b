"""Every bad input is refused with one line naming the file, line and field, exit status 1, and the store as it
was (issue 16: inputs that used to end in a traceback, or to be stored as if they were fine)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.test_cli import run
from whyset.corpus import Corpus

SOURCES = ["import", "sources", "--field", "text=t", "--label", "y", "--labels", "a,b", "--dataset", "toy"]
NOT_UTF8 = r"not UTF-8 text \(byte 0xe9 at column {}\); save the file as UTF-8"


def _counts(cwd: Path) -> dict[str, int]:
    with Corpus.open(cwd / "whyset.duckdb") as corpus:
        return corpus.summary().counts


def refused(cwd: Path, *args: str) -> str:
    """Run ``whyset ARGS``; it must fail with exit 1 and one line, leaving every table as it was."""
    before = _counts(cwd)
    done = run(*args, cwd=cwd)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert _counts(cwd) == before
    return done.stderr.strip().removeprefix("error: ")


def _jsonl(*rows: dict) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


# (file name, content, extra arguments, expected message)
SOURCE_CASES = {
    "latin-1 JSONL": ("rows.jsonl", b'{"t": "fine", "y": "a"}\n{"t": "caf\xe9", "y": "a"}\n', [],
                      "rows.jsonl:2: " + NOT_UTF8.format(11)),
    "latin-1 CSV": ("rows.csv", b"t,y\nfine,a\ncaf\xe9,b\n", [], "rows.csv:3: " + NOT_UTF8.format(4)),
    "empty CSV cell": ("rows.csv", b"t,y\nfine,a\n,b\n", [], re.escape("rows.csv:3: field 't': empty text")),
    "short CSV row": ("rows.csv", b't,y\nfine,a\n"two\nlines"\n', [],
                      re.escape("rows.csv:3: 1 cells, but the header has 2")),
    "non-SPDX licence": ("rows.jsonl", _jsonl({"t": "x", "y": "a", "lic": "MIT"}, {"t": "z", "y": "b", "lic": "Free-ish"}),
                         ["--license-column", "lic"],
                         re.escape("rows.jsonl:2: field 'lic': licence 'Free-ish' is not an SPDX licence id "
                                   "(Unknown license key(s): Free-ish)")),
    "repeated key": ("rows.jsonl", _jsonl({"k": 1, "t": "x", "y": "a"}, {"k": 1, "t": "z", "y": "b"}),
                     ["--id-column", "k"],
                     re.escape("rows.jsonl:2: field 'k': key '1' again (first at rows.jsonl:1); a key column names "
                               "each row once")),
}


@pytest.mark.parametrize("case", SOURCE_CASES)
def test_bad_source_files_are_refused_with_file_line_and_field(tmp_path: Path, case: str) -> None:
    name, content, extra, expected = SOURCE_CASES[case]
    (tmp_path / name).write_bytes(content)
    licence = [] if "--license-column" in extra else ["--license", "MIT"]
    assert re.fullmatch(expected, refused(tmp_path, *SOURCES, name, *licence, *extra))


def test_a_null_parquet_text_is_refused_not_stored_as_nan(tmp_path: Path) -> None:
    pq.write_table(pa.table({"t": ["fine", None], "y": ["a", "b"]}), tmp_path / "rows.parquet")
    assert refused(tmp_path, *SOURCES, "rows.parquet", "--license", "MIT") == (
        "rows.parquet:row 2: field 't': empty (null)")


def test_a_field_name_label_studio_cannot_use_is_refused_at_import(tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_bytes(_jsonl({"t": "x", "y": "a"}))
    message = refused(tmp_path, "import", "sources", "rows.jsonl", "--field", "my text=t", "--dataset", "toy")
    assert message == ("rows.jsonl: field 'my text': a field name uses letters, digits and _, not starting with a "
                       "digit (Label Studio names its objects after fields)")


@pytest.fixture
def one_source(tmp_path: Path) -> str:
    """A store holding one source example; returns its id."""
    (tmp_path / "rows.jsonl").write_bytes(_jsonl({"t": "A dog runs.", "y": "a"}))
    assert run(*SOURCES, "rows.jsonl", "--license", "MIT", cwd=tmp_path).returncode == 0
    with Corpus.open(tmp_path / "whyset.duckdb") as corpus:
        return next(corpus.store.iter_sources()).id


def _explanation(source_id: str, text: str = "dogs run", seed: int | None = None) -> dict:
    return {"source_id": source_id, "role": "annotation",
            "explanation": {"kind": "qa", "question": "why?", "answer": "a", "explanation": text},
            "provenance": {"origin": "human", "agent_id": "ann", "seed": seed}}


def test_a_latin1_explanation_file_is_refused(tmp_path: Path, one_source: str) -> None:
    line = json.dumps(_explanation(one_source, "caf_")).replace("caf_", "caf\\u00e9")
    (tmp_path / "expl.jsonl").write_bytes(line.encode().replace(b"\\u00e9", b"\xe9") + b"\n")
    assert re.fullmatch("expl.jsonl:1: " + NOT_UTF8.format(r"\d+"), refused(tmp_path, "import", "explanations",
                                                                             "expl.jsonl"))


def test_a_seed_beyond_int64_is_refused_at_import_not_at_export(tmp_path: Path, one_source: str) -> None:
    (tmp_path / "expl.jsonl").write_bytes(_jsonl(_explanation(one_source, seed=2**63)))
    assert refused(tmp_path, "import", "explanations", "expl.jsonl") == (
        "expl.jsonl:1: field 'provenance.seed': Input should be less than or equal to 9223372036854775807")
    (tmp_path / "expl.jsonl").write_bytes(_jsonl(_explanation(one_source, seed=2**63 - 1)))
    assert run("import", "explanations", "expl.jsonl", cwd=tmp_path).returncode == 0
    done = run("export", "out", cwd=tmp_path)  # the largest int64 seed exports
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("name", "content"), [
    ("r.toml", b'name = "caf\xe9"\n'),
    ("r.yaml", b"name: ok\nplugins: [caf\xe9]\n"),
])
def test_a_latin1_recipe_is_refused(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    line = content.count(b"\n", 0, content.index(b"\xe9")) + 1
    assert re.fullmatch(f"{name}:{line}: " + NOT_UTF8.format(r"\d+"), refused(tmp_path, "build", name))


def test_a_latin1_agreement_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b'{"item": 1, "annotator": "x", "value": "caf\xe9"}\n')
    assert re.fullmatch("a.jsonl:1: " + NOT_UTF8.format(44), refused(tmp_path, "validate", "agreement", "a.jsonl"))


@pytest.fixture
def annotated(tmp_path: Path, esnli_dir: Path) -> Path:
    """A store with 5 e-SNLI pairs and their 15 human explanations (enough to validate)."""
    assert run("import", "esnli", str(esnli_dir), "--limit", "5", cwd=tmp_path).returncode == 0
    return tmp_path


GATE_CASES = {
    "latin-1": (b'[[gate]]\nmetric = "text.bleu_loo_mean" # caf\xe9\nmin = 1\n', "g.toml:2: " + NOT_UTF8.format(36)),
    "threshold as a string": (b'[[gate]]\nmetric = "text.bleu_loo_mean"\nmin = "15"\n',
                              re.escape("g.toml: gate[0]: field 'min': expected a number, got '15'")),
    "gate = 5": (b"gate = 5\n", re.escape("g.toml: 'gate' must be a list of [[gate]] tables")),
    "unknown figure": (b'[[gate]]\nmetric = "text.bleu"\nmin = 1\n',
                       re.escape("g.toml: gate[0]: field 'metric': 'text.bleu' is not a figure any metric family "
                                 "computes (see `whyset validate run --list-metrics`)")),
}


@pytest.mark.parametrize("case", GATE_CASES)
def test_a_refused_gate_file_leaves_the_store_as_it_was(annotated: Path, case: str) -> None:
    content, expected = GATE_CASES[case]
    (annotated / "g.toml").write_bytes(content)
    assert re.fullmatch(expected, refused(annotated, "validate", "run", "--gates", "g.toml", "--bootstrap", "0"))
    assert re.fullmatch(expected, refused(annotated, "export", "out", "--gates", "g.toml"))
    assert _counts(annotated)["validation_results"] == 0 and not (annotated / "out").exists()
    # the same validation with a good gate file does store its run
    (annotated / "g.toml").write_text('[[gate]]\nmetric = "text.bleu_loo_mean"\nmin = 0\n')
    assert run("validate", "run", "--gates", "g.toml", "--bootstrap", "0", cwd=annotated).returncode == 0
    assert _counts(annotated)["validation_results"] > 0
