"""The validation report people look at: one self-contained HTML file, one section per metric family (its
tables and plots, from the family's own template), gates first, skipped families with the reason why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from whyset.validators.families import families
from whyset.validators.gates import GateResult

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>whyset validation report: {{ name }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.l,th.l{text-align:left}img{max-width:100%}.warn{color:#a40}
.fail{color:#b00;font-weight:bold}.pass{color:#070;font-weight:bold}</style></head><body>
<h1>Validation report: {{ name }}</h1>
<p>Run {{ run_id }}</p>
{% if gates %}<h2>Gates</h2><table><tr><th class=l>metric</th><th>value</th><th>rule</th><th>result</th></tr>
{% for g in gates %}<tr><td class=l>{{ g.metric }}</td><td>{{ fmt(g.value) }}</td><td>{{ g.rule }}</td>
<td class="{{ 'pass' if g.passed else 'fail' }}">{{ 'pass' if g.passed else 'FAIL' }}</td></tr>{% endfor %}</table>{% endif %}
{% for s in sections %}<h2>{{ s.title }}</h2>
{% if s.skipped %}<p class=warn>Not computed: {{ s.skipped }}</p>{% else %}{{ s.html }}
{% for w in s.warnings %}<p class=warn>{{ w }}</p>{% endfor %}{% endif %}{% endfor %}
</body></html>"""


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def write_report(results: dict[str, Any], path: Path, name: str, gates: list[GateResult] | None = None) -> Path:
    env = Environment(autoescape=select_autoescape(default=True))
    sections = []
    for family in families():
        result = results.get(family.name)
        section = {"title": family.title, "skipped": results["skipped"].get(family.name), "html": "", "warnings": []}
        if result is not None:  # rendered (and escaped) by the family's own template
            section["html"] = Markup(env.from_string(family.template).render(r=result, plots=family.plots(result),
                                                                             fmt=_fmt))
            section["warnings"] = result.get("warnings", [])
        if result is not None or section["skipped"]:
            sections.append(section)
    html = env.from_string(PAGE).render(name=name, run_id=results["run_id"], gates=gates or [], sections=sections,
                                        fmt=_fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
