"""Who annotates what: every item to k distinct annotators, balanced and deterministic, as rounds change.

The open-source edition has no overlap control, so whyset deals items itself. Planning starts from what a
round already holds, so that the same rules serve a first push, a push of more items, an annotator who
leaves (their unstarted items are dealt again) and one who joins (work moves to them from the busiest):

- an item goes only to an annotator who never held it (a withdrawn task still counts as seen: nobody meets
  the same item twice, so nobody ever annotates an item whose other answers they could know);
- each item goes to the least-loaded eligible annotators, ties broken by a hash seeded with the round, so
  re-planning the same state gives the same plan and loads never differ by more than one on a fresh round.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from whyset.errors import BadInput


def _rank(seed: str, *parts: str) -> str:
    return hashlib.sha256(":".join((seed, *parts)).encode()).hexdigest()


def order(keys: Iterable[str], seed: str) -> list[str]:
    """Keys in a seeded pseudo-random order (deterministic)."""
    return sorted(keys, key=lambda key: _rank(seed, key))


@dataclass
class Plan:
    """New tasks per annotator; ``short``: items that could not reach k distinct annotators."""

    give: dict[str, list[str]] = field(default_factory=dict)
    short: list[str] = field(default_factory=list)


def check_team(annotators: Sequence[str], k: int) -> None:
    if len(set(annotators)) != len(annotators):
        raise BadInput(f"--annotators: duplicate names in {list(annotators)}")
    if not 1 <= k <= len(annotators):
        raise BadInput(f"--k {k}: must be between 1 and the number of annotators ({len(annotators)})")


def fill(keys: Sequence[str], annotators: Sequence[str], k: int, holders: Mapping[str, set[str]],
         seen: Mapping[str, set[str]], load: Mapping[str, int], seed: str) -> Plan:
    """Give every key that has fewer than k current holders to the least-loaded annotators who never held it.

    ``holders``: key -> annotators holding it now; ``seen``: key -> everyone who ever held it; ``load``: the
    annotators' current number of tasks (what balance is judged on)."""
    plan, load = Plan({a: [] for a in annotators}), {a: load.get(a, 0) for a in annotators}
    for key in order(keys, seed):
        need = k - len(holders.get(key, ()))
        if need <= 0:
            continue
        eligible = sorted((a for a in annotators if a not in seen.get(key, ())),
                          key=lambda a: (load[a], _rank(seed, key, a)))
        for annotator in eligible[:need]:
            plan.give[annotator].append(key)
            load[annotator] += 1
        if len(eligible) < need:
            plan.short.append(key)
    return plan


def assign(keys: Sequence[str], annotators: Sequence[str], k: int, seed: str = "") -> dict[str, list[str]]:
    """A fresh round's plan: each key to exactly k distinct annotators, loads within one of each other."""
    check_team(annotators, k)
    return fill(keys, annotators, k, {}, {}, {}, seed).give


def rebalance(unstarted: Mapping[str, Sequence[str]], seen: Mapping[str, set[str]], seed: str
              ) -> list[tuple[str, str, str]]:
    """Moves (key, from, to) of unstarted tasks from the busiest annotators to the least busy until their
    unstarted loads differ by at most one (a newcomer starts at zero); only to someone who never held the key,
    and a key moves at most once."""
    movable = {a: order(keys, f"{seed}:{a}") for a, keys in unstarted.items()}
    load = {a: len(keys) for a, keys in unstarted.items()}
    seen = {key: set(who) for key, who in seen.items()}
    moves: list[tuple[str, str, str]] = []
    while True:
        by_load = sorted(load, key=lambda a: (load[a], _rank(seed, a)))
        receiver = by_load[0]
        donors = [a for a in reversed(by_load) if load[a] - load[receiver] > 1]
        move = next(((key, donor) for donor in donors for key in movable[donor]
                     if receiver not in seen.get(key, ())), None)
        if move is None:
            return moves
        key, donor = move
        movable[donor].remove(key)
        seen.setdefault(key, set()).add(receiver)  # the same item from another donor must not follow it
        load[donor] -= 1
        load[receiver] += 1
        moves.append((key, donor, receiver))
