"""Adjudication: items whose annotators disagree go to an adjudicator who sees every answer.

Which items disagree is decided by :func:`whyset.validators.disagreement.round_disagreements`, the same rule
that ``validate run`` reports, with the round's explanation kind's content rule (its threshold can be changed
for one adjudication). Each annotator's answer becomes a prediction in the adjudication task, named
``annotator:<handle>``, so the adjudicator can start from any of them.
"""

from __future__ import annotations

import html

from whyset.annotation.push import Item
from whyset.corpora.store_studio import StudioResult
from whyset.validators.disagreement import Finding


def adjudication_items(items: dict[str, Item], conflicts: dict[str, tuple[Finding, list[StudioResult]]]
                       ) -> list[Item]:
    """Adjudication tasks: the original item plus every annotator's answer, shown and pre-annotated."""
    chosen = []
    for key, (finding, results) in sorted(conflicts.items()):
        listing = "".join(f"<li><b>{html.escape(a.annotator)}</b>: {html.escape(a.decision)} "
                          f"{html.escape(str(a.judgement.get('comment', '') or ''))}</li>" for a in finding.answers)
        chosen.append(Item(key, items[key].source, items[key].candidate, items[key].predictions,
                           extra={"answers": f"<p>{html.escape(finding.reason)}</p><ul>{listing}</ul>"},
                           prefilled={f"annotator:{r.annotator}": r.raw["annotation"].get("result", [])
                                      for r in results if r.raw["annotation"].get("result")}))
    return chosen
