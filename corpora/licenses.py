"""Licence checks for a release: SPDX validation (license-expression) and source/release compatibility.

SPDX parsing comes from the `license-expression` library. The compatibility rules are written here by
hand because no maintained library models dataset-licence compatibility; they are deliberately few and
conservative, covering the cases that bite explanation corpora:

* a *NoDerivatives* source cannot be released with explanations at all (explanations are derivatives);
* a *NonCommercial* source cannot go into a release that permits commercial use;
* a *ShareAlike*/copyleft source forces the release to carry that same licence.

Anything they cannot decide (``LicenseRef-*``, unknown ids) needs an explicit override.
"""

from __future__ import annotations

from collections.abc import Iterable

from license_expression import ExpressionError, get_spdx_licensing

from whyset.errors import WhysetError

_LICENSING = get_spdx_licensing()
_SHARE_ALIKE_MARKERS = ("-SA-", "GPL-", "ODbL", "CC-BY-SA")


def canonical(license_id: str) -> str:
    """The canonical SPDX spelling of a single licence id (``cc-by-sa-4.0`` -> ``CC-BY-SA-4.0``)."""
    try:
        expression = _LICENSING.parse(license_id, validate=True, strict=True)
    except ExpressionError as exc:
        raise WhysetError(f"licence {license_id!r} is not an SPDX licence id ({exc})") from None
    keys = [symbol.key for symbol in _LICENSING.license_symbols(expression)]
    if len(keys) != 1:
        raise WhysetError(f"licence {license_id!r}: give one SPDX id, not an expression")
    return keys[0]


def is_non_commercial(license_id: str) -> bool:
    return "-NC" in license_id


def conflicts(release: str, sources: Iterable[str]) -> list[str]:
    """Human-readable reasons why the source licences cannot be released under ``release``."""
    reasons = []
    for source in sorted(set(sources)):
        if "-ND" in source:
            reasons.append(f"{source} forbids derivatives, and explanations are derivative work")
        if is_non_commercial(source) and not is_non_commercial(release):
            reasons.append(f"{source} is non-commercial but the release licence {release} allows commercial use")
        if any(marker in source for marker in _SHARE_ALIKE_MARKERS) and source != release:
            reasons.append(f"{source} is share-alike, so the release must also be {source}, not {release}")
    return reasons


def release_license(source_licenses: Iterable[str], requested: str | None) -> str:
    """The release licence: the one requested, or the sources' licence when they all share one."""
    if requested:
        return canonical(requested)
    distinct = sorted(set(source_licenses))
    if len(distinct) == 1:
        return distinct[0]
    raise WhysetError(f"the sources carry several licences ({', '.join(distinct)}): choose one with --license")


def hub_license_id(spdx_id: str) -> str:
    """The Hugging Face card spelling of an SPDX id (lower case; HF drops GNU's ``-only`` suffix)."""
    return spdx_id.lower().removesuffix("-only")
