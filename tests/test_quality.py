from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from whyset.validators.quality import counterfactual_quality, qa_quality


def sentiment(texts: Sequence[str]) -> np.ndarray:
    """Toy classifier: negative (0) iff 'not' or 'bad' occurs, else positive (1)."""
    neg = np.array([float(any(w in t.split() for w in ("not", "bad"))) for t in texts])
    return np.stack([neg, 1 - neg], axis=1)


def bag_embed(texts: Sequence[str]) -> np.ndarray:
    vocab = ["food", "good", "not", "bad", "service", "was", "the", "great"]
    return np.array([[t.lower().split().count(w) for w in vocab] + [0.01] for t in texts], float)


def test_counterfactual_flip_rate_edit_distance_fluency_diversity():
    originals = ["the food was good", "the food was good", "the service was great"]
    edited = ["the food was not good", "the food was bad", "the service was great today"]
    result = counterfactual_quality(originals, edited, targets=[0, 0, 0], predict=sentiment,
                                    loglik=lambda texts: np.array([-len(t.split()) for t in texts], float),
                                    embed=bag_embed, groups=["o1", "o1", "o2"])
    assert result["flipped"] == [True, True, False] and result["flip_rate"] == pytest.approx(2 / 3)
    # token edits: insert 'not' (1), substitute good->bad (1), insert 'today' (1)
    assert result["token_edit_distance"] == 1.0
    assert result["normalized_edit_distance"] == pytest.approx((1 / 5 + 1 / 4 + 1 / 5) / 3)
    assert result["fluency_delta"] == pytest.approx(-(1 + 0 + 1) / 3)
    a, b = bag_embed(edited[:2])
    expected = 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert result["diversity"] == pytest.approx(expected)


def test_qa_grounding_support_restatement_duplicates():
    passages = ["The Eiffel Tower is in Paris.", "Water boils at 100 degrees.", "The food was good"]
    answers = ["Paris", "100 degrees", "terrible"]
    explanations = ["the food was not good", "The food was NOT good", "the food was good"]
    result = qa_quality(passages, answers, explanations, labels=[0, 0, 1], predict=sentiment, embed=bag_embed)
    assert result["answer_grounded_rate"] == pytest.approx(2 / 3)
    assert result["exact_duplicates"] == 1
    # the toy classifier is case-sensitive: "NOT good" reads as positive, so 2 of 3 support their label
    assert result["supports_label_rate"] == pytest.approx(2 / 3)
    assert result["restates_input_rate"] == pytest.approx(1 / 3)  # third explanation = its passage
    assert result["near_duplicate_pairs"] == 1


def test_near_duplicates_counted_across_blocks():
    from whyset.validators.quality import _near_duplicate_pairs

    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # same-direction pairs: (0,2) (0,3) (2,3) (1,4) = 4, whatever the block size
    assert _near_duplicate_pairs(vectors, 0.95, block=2) == _near_duplicate_pairs(vectors, 0.95, block=1024) == 4
