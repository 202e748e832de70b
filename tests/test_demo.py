"""The main job (examples/demo.sh, what `make demo` runs) end to end on a small e-SNLI slice: builders,
Label Studio with the real human explanations replayed through the API, pull, report, gates, export."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from tests.conftest import REPO, load_export
from whyset.annotation.studio import Studio

RECIPE = """
[sources]
dataset = "esnli"
limit = 6
[classifier]
train_limit = 60
[[builder]]
id = "ig"
type = "attribution_rationale"
steps = 8
[[builder]]
id = "rules"
type = "rule_counterfactual"
field = "hypothesis"
[builder.targets]
entailment = "contradiction"
contradiction = "entailment"
neutral = "contradiction"
[[builder]]
id = "llm-explain"
type = "llm_explanation"
limit = 2
samples = 1
max_new_tokens = 24
"""


def test_demo_script_end_to_end(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    (tmp_path / "recipe.toml").write_text(RECIPE)
    env = os.environ | {"DEMO": str(demo), "PAIRS": "6", "RECIPE": str(tmp_path / "recipe.toml"),
                        "SHARED": str(REPO.parent / "shared")}
    try:
        done = subprocess.run(["bash", "examples/demo.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=1800, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        out = done.stdout
        assert "round esnli-human: 18 submitted, 0 already_there, 0 no_task" in out
        assert "round esnli-human: 18 valid; 18 new annotation records" in out
        assert "gate text.bleu_loo_mean >= 15: pass" in out
        assert re.search(r"^alice: http://127\.0\.0\.1:\d+ \(pid \d+, sqlite\)$", out, re.MULTILINE), out[-3000:]
        assert re.search(r"^a1: http://127\.0\.0\.1:\d+ a1@whyset\.local / \S+$", out, re.MULTILINE)
        qa = load_export(demo / "dataset", "qa_explanations")["validation"]
        human = [row for row in qa if row["origin"] == "human"]
        assert len(human) == 18 and {row["agent_id"] for row in human} == {"a1", "a2", "a3"}
        assert {row["round_id"] for row in human} == {"esnli-human"}
        assert load_export(demo / "dataset", "rationales")["validation"].num_rows >= 6  # IG candidates
        card = (demo / "dataset" / "README.md").read_text()
        assert "license: mit" in card
        provenance = json.loads((demo / "dataset" / "provenance.json").read_text())
        assert provenance["license"]["release"] == "MIT"
        assert {p["agent_id"] for p in provenance["producers"]} >= {"a1", "a2", "a3", "ig", "rules"}
        report = (demo / "validation-report.html").read_text()
        assert "<table" in report and "data:image/png;base64" in report and "BLEU" in report
    finally:
        Studio.open(demo / "studio").down()
