"""Label agreement against published worked examples and against the reference `krippendorff` package."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from whyset.errors import WhysetError
from whyset.validators.label_agreement import fleiss, gwet_ac1, label_agreement, percent_agreement
from whyset.validators.ratings import ratings_from_rows

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units,
# missing values. Published: nominal .743, ordinal .815, interval .849, ratio .797.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def _rows(data: dict[str, list]) -> list[tuple[str, str, object]]:
    return [(f"u{i}", a, v) for a, values in data.items() for i, v in enumerate(values) if v is not None]


@pytest.mark.parametrize("level,published", [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849),
                                             ("ratio", 0.797)])
def test_krippendorff_2011_worked_example(level: str, published: float):
    result = label_agreement(ratings_from_rows("label", _rows(KRIPPENDORFF_2011)), level, n_boot=300)
    assert round(result["krippendorff_alpha"], 3) == published
    low, high = result["krippendorff_alpha_ci95"]
    assert low < published <= high
    assert result["items_pairable"] == 11  # unit 12 has a single value
    assert result["warnings"] == ["1 item(s) with a single annotation carry no agreement information and are ignored"]


def test_fleiss_1971_textbook_example():
    # 10 subjects, 14 raters, 5 categories (Fleiss 1971 as reproduced in standard texts): P = 0.378, kappa = 0.210
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]], float)
    kappa, items = fleiss(table)
    assert round(kappa, 3) == 0.210 and items == 10
    assert round(percent_agreement(table), 3) == 0.378


def _two_raters(table: list[list[int]]) -> list[tuple[str, str, str]]:
    rows, i = [], 0
    labels = ["yes", "no"]
    for r, row in enumerate(table):
        for c, n in enumerate(row):
            for _ in range(n):
                rows += [(f"i{i}", "r1", labels[r]), (f"i{i}", "r2", labels[c])]
                i += 1
    return rows


def test_cohen_kappa_and_ac1_textbook_case():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = .70, p_e = .50, kappa = .40
    result = label_agreement(ratings_from_rows("label", _two_raters([[20, 5], [10, 15]])), n_boot=0)
    assert result["pairs"]["r1"]["r2"]["cohen_kappa"] == pytest.approx(0.40)
    assert result["percent_agreement"] == pytest.approx(0.70)
    # AC1 by hand: pi_yes = (25/50 + 30/50) / 2 = .55, p_e = 2 * .55 * .45 = .495 -> (.70 - .495) / .505
    assert result["gwet_ac1"] == pytest.approx((0.70 - 0.495) / 0.505)
    assert result["confusion"]["r1"]["r2"] == [[15, 10], [5, 20]]  # categories sorted: no, yes


def test_ac1_stays_high_where_kappa_collapses():
    # Gwet's kappa paradox: 118 yes/yes, 5 yes/no, 2 no/yes, 0 no/no -> kappa ~ -0.02 but AC1 ~ 0.94
    result = label_agreement(ratings_from_rows("label", _two_raters([[118, 5], [2, 0]])), n_boot=0)
    assert result["pairs"]["r1"]["r2"]["cohen_kappa"] == pytest.approx(-0.0234, abs=1e-3)
    assert result["gwet_ac1"] == pytest.approx(0.9408, abs=1e-3)
    counts = np.array([[2, 0]] * 118 + [[1, 1]] * 7, float)
    assert gwet_ac1(counts) == pytest.approx(result["gwet_ac1"])


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_identical_to_krippendorff_package_on_random_data_with_missing(level: str):
    rng = np.random.default_rng(7)
    data = rng.integers(1, 6, size=(5, 200)).astype(float)
    data[rng.random(data.shape) < 0.3] = np.nan
    rows = [(f"u{j}", f"c{i}", int(data[i, j])) for i in range(5) for j in range(200) if not np.isnan(data[i, j])]
    ours = label_agreement(ratings_from_rows("label", rows), level, n_boot=0)["krippendorff_alpha"]
    reference = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert ours == pytest.approx(reference, abs=1e-12)


def test_per_annotator_and_pairs():
    rows = [(f"i{i}", a, v) for i in range(21) for a, v in
            (("good1", i % 3), ("good2", i % 3), ("good3", i % 3), ("noisy", (i + 1) % 3))]
    result = label_agreement(ratings_from_rows("label", rows), n_boot=0)
    assert result["pairs"]["good1"]["good2"]["cohen_kappa"] == pytest.approx(1.0)
    assert result["pairs"]["good1"]["noisy"]["cohen_kappa"] == pytest.approx(-0.5)  # p_o = 0, p_e = 1/3
    per = result["per_annotator"]
    assert per["good1"]["agreement_with_majority_of_rest"] == 1.0
    assert per["noisy"]["agreement_with_majority_of_rest"] == 0.0
    assert per["noisy"]["mean_cohen_kappa"] == pytest.approx(-0.5)
    assert per["good1"]["mean_cohen_kappa"] == pytest.approx((1 + 1 - 0.5) / 3)
    assert per["noisy"]["items"] == 21


def test_single_annotator_and_no_overlap_are_clear_errors():
    with pytest.raises(WhysetError, match="at least 2 annotators; found 1 \\(solo\\)"):
        label_agreement(ratings_from_rows("label", [("a", "solo", "x"), ("b", "solo", "y")]))
    with pytest.raises(WhysetError, match="no item has annotations from 2 or more annotators"):
        label_agreement(ratings_from_rows("label", [("a", "p", "x"), ("b", "q", "y")]))
    with pytest.raises(WhysetError, match="level 'interval' needs numeric values"):
        label_agreement(ratings_from_rows("label", [("a", "p", "x"), ("a", "q", "y")]), "interval")


def test_free_text_passed_as_labels_is_refused_not_run_out_of_memory():
    rows = [(f"i{i}", a, f"text {i} by {a}") for i in range(150) for a in ("p", "q")]
    with pytest.raises(WhysetError, match="300 distinct labels: this looks like free text"):
        label_agreement(ratings_from_rows("label", rows))


# Gwet, Handbook of Inter-Rater Reliability (4th ed.), the four-rater example of ch. 2 and 4 (12 units, five
# categories, every rater misses some units; unit 12 has a single rating), as shipped with irrCAC
# (`raw_4raters`). Published: AC1 = 0.7754 (pa 0.8182, pe 0.1903); Fleiss' generalized kappa 0.7612.
GWET_4RATERS = {
    "Rater1": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "Rater2": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, None],
    "Rater3": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
    "Rater4": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def test_gwet_four_rater_example_counts_singly_rated_units_for_category_probabilities():
    result = label_agreement(ratings_from_rows("label", _rows(GWET_4RATERS)), n_boot=0)
    assert round(result["gwet_ac1"], 4) == 0.7754
    assert round(result["percent_agreement"], 4) == 0.8182  # over the 11 units with two or more ratings
    assert round(result["fleiss_kappa_generalized"], 4) == 0.7612
    # leaving unit 12 (one rating) out of the category probabilities gives another, wrong, AC1
    without = label_agreement(ratings_from_rows("label", [r for r in _rows(GWET_4RATERS) if r[0] != "u11"]),
                              n_boot=0)
    assert round(without["gwet_ac1"], 4) != 0.7754


def test_one_value_in_the_domain_gives_undefined_figures_not_a_crash():
    # two annotators chose the same label on every item: krippendorff.alpha itself raises here
    rows = [(f"i{i}", a, "entailment") for i in range(4) for a in ("alice", "bob")]
    result = label_agreement(ratings_from_rows("label", rows), n_boot=200)
    assert result["krippendorff_alpha"] is None and result["krippendorff_alpha_ci95"] is None
    assert result["gwet_ac1"] is None and result["fleiss_kappa"] is None
    assert result["pairs"]["alice"]["bob"]["cohen_kappa"] is None
    assert result["percent_agreement"] == 1.0
    assert any("one value in the domain" in w for w in result["warnings"])
    one_item = label_agreement(ratings_from_rows("label", [("i", "alice", "x"), ("i", "bob", "y")]), n_boot=50)
    assert one_item["krippendorff_alpha"] is not None and one_item["percent_agreement"] == 0.0


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_fast_bootstrap_equals_krippendorff_per_resample(level: str):
    from whyset.validators.alpha_bootstrap import bootstrap_alphas, resample_indices
    from whyset.validators.label_agreement import bootstrap_alpha_ci, value_counts

    rng = np.random.default_rng(3)
    data = rng.integers(1, 5, size=(4, 60)).astype(float)
    data[rng.random(data.shape) < 0.3] = np.nan
    counts, domain = value_counts(data)
    pairable = counts[counts.sum(axis=1) >= 2]
    reference = []
    for idx in resample_indices(len(pairable), 120, seed=5):
        sample = pairable[idx]
        used = np.nonzero(sample.sum(axis=0))[0]
        reference.append(krippendorff.alpha(value_counts=sample, value_domain=domain, level_of_measurement=level)
                         if len(used) > 1 else np.nan)
    fast = bootstrap_alphas(counts, domain, level, 120, seed=5)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-12)
    low, high = bootstrap_alpha_ci(data, level, n_boot=120, seed=5)
    assert (low, high) == pytest.approx(tuple(np.percentile(reference, [2.5, 97.5])), abs=1e-12)
