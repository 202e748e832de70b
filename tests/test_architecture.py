"""The architecture's promises: a builder from outside whyset is one class and one registration, the build
signature leaves scheduling settings out, no SQL lives outside corpora/, the Python API and the CLI agree, and
every registry lists what is bundled."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from pydantic import Field
from typer.testing import CliRunner

from whyset import Builder, BuilderSettings, Corpus, register_builder
from whyset.builders.context import BuildContext, BuildOutput
from whyset.cli import app
from whyset.corpora.kinds.rationale import Rationale, Span
from whyset.corpora.schema import SourceExample

REPO = Path(__file__).resolve().parents[1]
RECIPE = """
plugins = ["tests.test_architecture"]
[sources]
limit = {sources}
[[builder]]
id = "fw"
type = "first_word"
batch_size = 2
{limit}
"""


class FirstWordSettings(BuilderSettings):
    score: float = Field(default=1.0, ge=0, le=1)


@register_builder("first_word", settings=FirstWordSettings, kind="rationale")
class FirstWordBuilder(Builder):
    """The first word of every text field as a rationale: no model, so registry and resume tests take a second."""

    settings: FirstWordSettings

    def build(self, sources: list[SourceExample], ctx: BuildContext) -> BuildOutput:
        out = BuildOutput()
        for source in sources:
            spans = [Span(field=field, start=m.start(), end=m.end(), text=m.group(), score=self.settings.score)
                     for field, text in source.fields.items() if (m := re.search(r"\w+", text))]
            provenance = ctx.provenance(self.settings, "rule", "first-word")
            out.kept.append(ctx.candidate(source, Rationale(spans=spans, label=source.label), provenance))
        return out


def _esnli(tmp_path: Path, esnli_dir: Path, limit: int = 12) -> Path:
    path = tmp_path / "c.duckdb"
    with Corpus.open(path) as corpus:
        corpus.import_esnli(esnli_dir, limit=limit, explanations=False)
    return path


def test_builder_defined_here_builds_through_the_cli(tmp_path: Path, esnli_dir: Path) -> None:
    store = _esnli(tmp_path, esnli_dir)
    (tmp_path / "r.toml").write_text(RECIPE.format(sources=5, limit=""))
    done = CliRunner().invoke(app, ["build", str(tmp_path / "r.toml"), "--store", str(store)])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("fw: 5 kept, 0 rejected, 0 of 5 sources already built")
    with Corpus.open(store) as corpus:
        candidates = list(corpus.store.iter_explanations("candidate", "rationale"))
    assert len(candidates) == 5 and {c.provenance.agent_id for c in candidates} == {"fw"}
    assert all(c.explanation.spans[0].start == 0 for c in candidates)  # e-SNLI premises start with a word
    # the same recipe from another process: `plugins` imports the module that registers the builder
    env = os.environ | {"PYTHONPATH": str(REPO)}
    again = subprocess.run([str(Path(sys.executable).with_name("whyset")), "build", "r.toml", "--store", str(store)],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("fw: 0 kept, 0 rejected, 5 of 5 sources already built")


def test_raising_a_limit_builds_only_the_new_items(tmp_path: Path, esnli_dir: Path) -> None:
    store = _esnli(tmp_path, esnli_dir)
    recipe = tmp_path / "r.toml"
    for limit, built in ((3, 3), (5, 2)):  # raising the limit builds the 2 new items only
        recipe.write_text(RECIPE.format(sources=12, limit=f"limit = {limit}"))
        with Corpus.open(store) as corpus:
            report = corpus.build(recipe)["fw"]
            assert (report.sources, report.sources - report.skipped) == (limit, built)
    recipe.write_text(RECIPE.format(sources=12, limit="limit = 5").replace("batch_size = 2", "batch_size = 4"))
    with Corpus.open(store) as corpus:  # a batch size is scheduling, not content: nothing to rebuild
        assert corpus.build(recipe)["fw"].skipped == 5
        log = corpus.store.builds.log("fw")
    assert len(log) == 5 and len({row["config_hash"] for row in log}) == 1
    recipe.write_text(RECIPE.format(sources=12, limit="limit = 5\nscore = 0.5"))  # content: a new build
    with Corpus.open(store) as corpus:
        assert corpus.build(recipe)["fw"].skipped == 0
        assert len({row["config_hash"] for row in corpus.store.builds.log("fw")}) == 2


def test_unknown_builder_type_lists_the_registered_ones(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text('[[builder]]\nid = "x"\ntype = "frist_word"\n')
    done = CliRunner().invoke(app, ["build", str(tmp_path / "r.toml"), "--store", str(tmp_path / "s.duckdb")])
    assert done.exit_code == 1
    message = done.stderr.strip()
    assert message.startswith("error: ") and "unknown builder type 'frist_word' (known: " in message
    assert "first_word" in message and "attribution_rationale" in message and "\n" not in message


def test_no_sql_outside_corpora() -> None:
    """The store owns every table: SQL statements appear only in corpora/ (tests and benchmarks included)."""
    # SQL statement heads (select, insert into, update ... set, delete from), upper-cased so this line is not one
    select, insert, update, delete = (word.upper() for word in ("select", "insert", "update", "delete"))
    statement = re.compile(rf"\b({select}\b|{insert}( OR \w+)? INTO\b|{update} \w+ SET\b|{delete} FROM\b)")
    offenders = [f"{path.relative_to(REPO)}:{n}" for path in REPO.rglob("*.py")
                 if not {".venv", "work", "corpora"} & set(path.relative_to(REPO).parts)
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if statement.search(line)]
    assert offenders == []


def test_registries_list_what_is_bundled() -> None:
    from whyset.annotation.views import VIEWS
    from whyset.builders.base import BUILDERS
    from whyset.corpora.kinds import KINDS
    from whyset.validators.families import FAMILIES

    assert {"attribution_rationale", "llm_rationale", "rule_counterfactual", "llm_counterfactual",
            "llm_explanation"} <= set(BUILDERS.names())
    assert {spec.config for spec in KINDS.all().values()} == {"rationales", "counterfactuals", "qa_explanations"}
    assert {name: view.explanation_kind for name, view in VIEWS.all().items()} == {
        "rationale": "rationale", "counterfactual": "counterfactual", "qa": "qa", "freetext": "qa"}
    assert set(FAMILIES.names()) >= {"corpus", "label", "span", "text", "disagreements"}


def test_modules_import_without_touching_the_environment() -> None:
    code = ("import os; before = dict(os.environ); import whyset.builders.models, whyset.cli, whyset.corpus; "
            "changed = {k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k)}; "
            "print(sorted(changed))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
