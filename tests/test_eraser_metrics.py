"""ERASER faithfulness and plausibility: hand-computed cases and a planted-trigger task."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from whyset.validators.faithfulness import aopc, comprehensiveness_sufficiency, faithfulness, top_k_mask
from whyset.validators.plausibility import auprc, iou_f1, mask_to_spans, plausibility, token_f1


def trigger_model(examples: Sequence[dict[str, str]]) -> np.ndarray:
    """Planted trigger: class 1 iff the token 'zebra' is present (p = .95), otherwise p(class 1) = .10."""
    p1 = np.array([0.95 if "zebra" in e["text"].split() else 0.10 for e in examples])
    return np.stack([1 - p1, p1], axis=1)


def one(text: str) -> dict[str, str]:
    return {"text": text}


def test_comprehensiveness_and_sufficiency_hand_computed():
    texts = [one("a zebra ran"), one("a zebra ran")]
    masks = [{"text": np.array([False, True, False])}, {"text": np.array([True, False, False])}]
    comp, suff = comprehensiveness_sufficiency(trigger_model, texts, masks, [1, 1])
    # rationale = zebra: comp = .95 - .10 = .85, suff = .95 - .95 = 0
    # rationale = a:     comp = .95 - .95 = 0,   suff = .95 - .10 = .85
    assert comp == pytest.approx([0.85, 0.0]) and suff == pytest.approx([0.0, 0.85])


def test_top_k_mask_rounds_up_and_keeps_at_least_one():
    scores = {"text": np.array([0.1, 0.9, 0.5, 0.0])}
    assert top_k_mask(scores, 0.01)["text"].tolist() == [False, True, False, False]
    assert top_k_mask(scores, 0.5)["text"].tolist() == [False, True, True, False]
    two = {"premise": np.array([0.2, 0.0]), "hypothesis": np.array([0.9, 0.0, 0.1])}
    picked = top_k_mask(two, 0.4)  # ceil(0.4 * 5) = 2 tokens over both fields
    assert picked["premise"].tolist() == [True, False] and picked["hypothesis"].tolist() == [True, False, False]


def _planted_task(n: int = 200, seed: int = 3) -> tuple[list[dict[str, str]], list[dict[str, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    vocab = ["the", "a", "cat", "sat", "on", "mat", "dog", "ran", "park", "blue", "sky", "was", "very", "quite"]
    texts, scores = [], []
    for _ in range(n):
        words = list(rng.choice(vocab, size=19))
        words.insert(int(rng.integers(0, 20)), "zebra")
        texts.append(one(" ".join(words)))
        # occlusion attribution: drop in p(class 1) when each token is removed
        full = trigger_model([texts[-1]])[0, 1]
        drops = [full - trigger_model([one(" ".join(words[:i] + words[i + 1:]))])[0, 1] for i in range(len(words))]
        scores.append({"text": np.array(drops)})
    return texts, scores


def test_planted_trigger_attribution_beats_random_baseline():
    texts, scores = _planted_task()
    targets = [1] * len(texts)
    result = aopc(trigger_model, texts, scores, targets)
    # the trigger is always in the top 1% (1 token): removing it drops p from .95 to .10 in every bin
    assert result["aopc_comprehensiveness"] == pytest.approx(0.85)
    assert result["aopc_sufficiency"] == pytest.approx(0.0)
    assert result["random_aopc_comprehensiveness"] < 0.3 < result["aopc_comprehensiveness"]
    assert result["random_aopc_sufficiency"] > 0.5
    hard = faithfulness(trigger_model, texts, [top_k_mask(s, 0.05) for s in scores], targets)
    assert hard["comprehensiveness"] == pytest.approx(0.85) and hard["random_comprehensiveness"] < 0.2


def test_token_f1_hand_computed():
    predicted = [np.array([1, 1, 0, 0], bool), np.array([0, 0, 0, 1], bool)]
    gold = [np.array([0, 1, 1, 0], bool), np.array([0, 0, 0, 1], bool)]
    # example 1: P = 1/2, R = 1/2, F1 = 1/2; example 2: 1, 1, 1
    expected = {"token_precision": 0.75, "token_recall": 0.75, "token_f1": 0.75, "token_documents": 2}
    assert token_f1(predicted, gold) == expected
    # a document where neither marks a token is left out (ERASER), not counted as a perfect 1 or a 0
    nothing = np.zeros(4, bool)
    assert token_f1([*predicted, nothing], [*gold, nothing]) == expected
    # ... but one where only the prediction marks tokens counts, with P = R = F1 = 0
    assert token_f1([*predicted, np.array([1, 0, 0, 0], bool)], [*gold, nothing])["token_f1"] == pytest.approx(0.5)


def test_iou_f1_hand_computed():
    assert mask_to_spans(np.array([1, 1, 0, 1], bool)) == [(0, 2), (3, 4)]
    predicted = [np.array([1, 1, 1, 0, 0, 0, 1, 0], bool)]   # spans [0,3) and [6,7)
    gold = [np.array([0, 1, 1, 1, 0, 0, 0, 0], bool)]        # span [1,4): IOU with [0,3) = 2/4 = .5 -> match
    result = iou_f1(predicted, gold)
    assert (result["iou_precision"], result["iou_recall"], result["iou_f1"]) == (0.5, 1.0, pytest.approx(2 / 3))
    gold_strict = [np.array([0, 0, 1, 1, 1, 0, 0, 0], bool)]  # [2,5): IOU with [0,3) = 1/5 -> no match
    assert iou_f1(predicted, gold_strict)["iou_f1"] == 0.0


def test_iou_f1_macro_is_per_document_micro_is_pooled():
    predicted = [np.array([1, 1, 1, 0, 0, 0, 1, 0], bool), np.array([1, 0, 0, 0], bool)]
    gold = [np.array([0, 1, 1, 1, 0, 0, 0, 0], bool), np.array([1, 0, 0, 1], bool)]
    # doc 1: 2 predicted spans, 1 matches its 1 gold span; doc 2: 1 predicted span matches 1 of 2 gold spans
    result = iou_f1(predicted, gold)
    assert result["iou_precision_micro"] == result["iou_recall_micro"] == result["iou_f1_micro"] == pytest.approx(2 / 3)
    assert result["iou_precision"] == result["iou_recall"] == result["iou_f1"] == pytest.approx(0.75)


def test_auprc_hand_computed_and_combined_report():
    scores = [np.array([0.9, 0.8, 0.1, 0.7])]
    gold = [np.array([1, 0, 0, 1], bool)]
    # ranking .9(+) .8(-) .7(+) .1(-): AP = (1/1 + 2/3) / 2
    assert auprc(scores, gold) == pytest.approx((1 + 2 / 3) / 2)
    report = plausibility([np.array([1, 0, 0, 1], bool)], gold, scores)
    assert report["token_f1"] == 1.0 and report["iou_f1"] == 1.0 and report["documents"] == 1
    # documents whose tokens are all gold or all non-gold have no precision-recall curve: left out
    assert auprc([*scores, np.array([0.3, 0.2]), np.array([0.5, 0.1])],
                 [*gold, np.ones(2, bool), np.zeros(2, bool)]) == pytest.approx((1 + 2 / 3) / 2)
    assert auprc([np.array([0.3, 0.2])], [np.ones(2, bool)]) is None


def _eraser_reference(predicted: list[set[int]], gold: list[set[int]]) -> dict[str, float]:
    """ERASER metrics.py's definitions, written the way that file computes them: token sets per document,
    documents in the union of truth and prediction keys, spans as sets of token ranges."""
    def spans(tokens: set[int]) -> list[set[int]]:
        runs: list[set[int]] = []
        for t in sorted(tokens):
            if runs and t - 1 in runs[-1]:
                runs[-1].add(t)
            else:
                runs.append({t})
        return runs

    def f1(p: float, r: float) -> float:
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    keys = [i for i, (p, g) in enumerate(zip(predicted, gold, strict=True)) if p or g]
    ps = [len(predicted[i] & gold[i]) / len(predicted[i]) if predicted[i] else 0.0 for i in keys]
    rs = [len(predicted[i] & gold[i]) / len(gold[i]) if gold[i] else 0.0 for i in keys]
    fs = [f1(p, r) for p, r in zip(ps, rs, strict=True)]
    tps, n_pred, n_truth = {}, {}, {}
    for i in keys:
        truth, pred = spans(gold[i]), spans(predicted[i])
        tps[i] = sum(max((len(p & t) / len(p | t) for t in truth), default=0.0) >= 0.5 for p in pred)
        n_pred[i], n_truth[i] = len(pred), len(truth)
    macro_r = [tps[i] / n for i, n in n_truth.items() if n]
    macro_p = [tps[i] / n for i, n in n_pred.items() if n]
    mr, mp = (sum(macro_r) / len(macro_r) if macro_r else 0.0), (sum(macro_p) / len(macro_p) if macro_p else 0.0)
    micro_p = sum(tps.values()) / sum(n_pred.values()) if sum(n_pred.values()) else 0.0
    micro_r = sum(tps.values()) / sum(n_truth.values()) if sum(n_truth.values()) else 0.0
    return {"token_precision": sum(ps) / len(ps), "token_recall": sum(rs) / len(rs), "token_f1": sum(fs) / len(fs),
            "iou_f1": f1(mp, mr), "iou_f1_micro": f1(micro_p, micro_r)}


def test_plausibility_matches_the_eraser_definitions_on_random_cases():
    rng = np.random.default_rng(7)
    for case in range(200):
        docs = int(rng.integers(1, 6))
        lengths = rng.integers(1, 12, size=docs)
        density = [0.0, 0.2, 0.5, 1.0][case % 4]  # includes empty and all-marked documents
        predicted = [rng.random(n) < density for n in lengths]
        gold = [rng.random(n) < rng.choice([0.0, 0.3, 0.7, 1.0]) for n in lengths]
        if not any(p.any() or g.any() for p, g in zip(predicted, gold, strict=True)):
            assert token_f1(predicted, gold)["token_f1"] is None and iou_f1(predicted, gold)["iou_f1"] is None
            continue
        expected = _eraser_reference([set(np.flatnonzero(p)) for p in predicted],
                                     [set(np.flatnonzero(g)) for g in gold])
        got = token_f1(predicted, gold) | iou_f1(predicted, gold)
        for key, value in expected.items():
            assert got[key] == pytest.approx(value), (case, key)
