"""ERASER faithfulness and plausibility: hand-computed cases and a planted-trigger task."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from whyset.validators.faithfulness import aopc, comprehensiveness_sufficiency, faithfulness, top_k_mask
from whyset.validators.plausibility import auprc, iou_f1, mask_to_spans, plausibility, token_f1


def trigger_model(texts: Sequence[str]) -> np.ndarray:
    """Planted trigger: class 1 iff the token 'zebra' is present (p = .95), otherwise p(class 1) = .10."""
    p1 = np.array([0.95 if "zebra" in t.split() else 0.10 for t in texts])
    return np.stack([1 - p1, p1], axis=1)


def test_comprehensiveness_and_sufficiency_hand_computed():
    texts = ["a zebra ran", "a zebra ran"]
    masks = [np.array([False, True, False]), np.array([True, False, False])]
    comp, suff = comprehensiveness_sufficiency(trigger_model, texts, masks, [1, 1])
    # rationale = zebra: comp = .95 - .10 = .85, suff = .95 - .95 = 0
    # rationale = a:     comp = .95 - .95 = 0,   suff = .95 - .10 = .85
    assert comp == pytest.approx([0.85, 0.0]) and suff == pytest.approx([0.0, 0.85])


def test_top_k_mask_rounds_up_and_keeps_at_least_one():
    scores = np.array([0.1, 0.9, 0.5, 0.0])
    assert top_k_mask(scores, 0.01).tolist() == [False, True, False, False]
    assert top_k_mask(scores, 0.5).tolist() == [False, True, True, False]


def _planted_task(n: int = 200, seed: int = 3) -> tuple[list[str], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    vocab = ["the", "a", "cat", "sat", "on", "mat", "dog", "ran", "park", "blue", "sky", "was", "very", "quite"]
    texts, scores = [], []
    for _ in range(n):
        words = list(rng.choice(vocab, size=19))
        words.insert(int(rng.integers(0, 20)), "zebra")
        texts.append(" ".join(words))
        # occlusion attribution: drop in p(class 1) when each token is removed
        full = trigger_model([texts[-1]])[0, 1]
        drops = [full - trigger_model([" ".join(words[:i] + words[i + 1:])])[0, 1] for i in range(len(words))]
        scores.append(np.array(drops))
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
    assert token_f1(predicted, gold) == {"token_precision": 0.75, "token_recall": 0.75, "token_f1": 0.75}


def test_iou_f1_hand_computed():
    assert mask_to_spans(np.array([1, 1, 0, 1], bool)) == [(0, 2), (3, 4)]
    predicted = [np.array([1, 1, 1, 0, 0, 0, 1, 0], bool)]   # spans [0,3) and [6,7)
    gold = [np.array([0, 1, 1, 1, 0, 0, 0, 0], bool)]        # span [1,4): IOU with [0,3) = 2/4 = .5 -> match
    result = iou_f1(predicted, gold)
    assert result == {"iou_precision": 0.5, "iou_recall": 1.0, "iou_f1": pytest.approx(2 / 3)}
    gold_strict = [np.array([0, 0, 1, 1, 1, 0, 0, 0], bool)]  # [2,5): IOU with [0,3) = 1/5 -> no match
    assert iou_f1(predicted, gold_strict)["iou_f1"] == 0.0


def test_auprc_hand_computed_and_combined_report():
    scores = [np.array([0.9, 0.8, 0.1, 0.7])]
    gold = [np.array([1, 0, 0, 1], bool)]
    # ranking .9(+) .8(-) .7(+) .1(-): AP = (1/1 + 2/3) / 2
    assert auprc(scores, gold) == pytest.approx((1 + 2 / 3) / 2)
    report = plausibility([np.array([1, 0, 0, 1], bool)], gold, scores)
    assert report["token_f1"] == 1.0 and report["iou_f1"] == 1.0 and report["examples"] == 1
