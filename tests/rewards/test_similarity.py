"""Graded similarity scores (ROUGE-L, CIDEr-D, findings F1) on hand-checked cases."""

import pytest

from currvl.rewards import CiderCorpus, asserted_findings, cider_d, findings_f1, rouge_l
from currvl.rewards.similarity import states_normal, tokenize

SCAN_TERMS = ("nodule", "cyst", "mass", "calcification")
CAPTIONS = [
    "a dog runs on the grass",
    "a cat sits on the mat",
    "two men ride horses on a beach",
    "a red car parked on the street",
]


def test_tokenize_ignores_case_and_punctuation():
    assert tokenize("The Nodule, upper-left!  (2 mm)") == ["the", "nodule", "upper", "left", "2", "mm"]
    assert tokenize("Ödem_links") == ["ödem", "links"]
    assert tokenize(None) == tokenize("") == []


# ---------------------------------------------------------------- ROUGE-L


def test_rouge_l_hand_checked():
    assert rouge_l("A small nodule.", "a small NODULE") == 1.0
    assert rouge_l("a cyst", "large mass seen") == 0.0
    # LCS "a small nodule" = 3 tokens: P = 3/3, R = 3/7, F1 = 2PR / (P + R) = 0.6
    assert rouge_l("a small nodule", "A small nodule in the upper zone.") == pytest.approx(0.6)
    # LCS "the cat on the mat" = 5 of 6 tokens on both sides
    assert rouge_l("the cat sat on the mat", "the cat lay on the mat") == pytest.approx(5 / 6)
    # subsequence, not substring: order matters, gaps don't
    assert rouge_l("mat the on", "the cat on the mat") == pytest.approx(
        2 * (2 / 3) * (2 / 5) / (2 / 3 + 2 / 5)
    )


def test_rouge_l_best_reference_and_empty_inputs():
    assert rouge_l("the cat", ["a dog", "The cat!"]) == 1.0
    assert rouge_l("a small nodule", ["zzz", "A small nodule in the upper zone."]) == pytest.approx(0.6)
    assert rouge_l("", "a cat") == rouge_l(None, "a cat") == 0.0
    assert rouge_l("a cat", []) == rouge_l("a cat", None) == rouge_l("a cat", "...") == 0.0


# ---------------------------------------------------------------- CIDEr-D


def test_cider_identical_disjoint_and_short():
    corpus = CiderCorpus(CAPTIONS)
    assert cider_d("A cat sits on the mat.", "a cat sits on the mat", corpus) == pytest.approx(1.0)
    assert cider_d("horses", "a cat sits on the mat", corpus) == 0.0
    assert cider_d("", "a cat sits on the mat", corpus) == cider_d("a cat", None, corpus) == 0.0
    # three words have no 4-gram: the mean over n = 1..4 is (1 + 1 + 1 + 0) / 4
    assert cider_d("a red car", "a red car") == pytest.approx(0.75)
    # CIDEr averages over references: equal to one, disjoint from the other -> (10 + 0) / 2 / 10
    assert cider_d("a cat sits on the mat", ["a cat sits on the mat", "two men ride"]) == pytest.approx(0.5)


def test_cider_ranks_closer_captions_higher():
    corpus = CiderCorpus(CAPTIONS)
    ref = "a cat sits on the mat"
    close = cider_d("a cat sitting on a mat", ref, corpus)
    generic = cider_d("a dog runs on the grass", ref, corpus)
    assert 1.0 > close > generic >= 0.0
    # IDF: "a ... on the" is in every caption, so sharing only those words earns almost nothing
    assert generic < 0.1 < cider_d("a dog runs on the grass", ref)


def test_cider_matches_pycocoevalcap_on_its_own_corpus():
    """With the scored set as the corpus this is exactly pycocoevalcap's Cider, divided by 10."""
    from pycocoevalcap.cider.cider import Cider

    refs = {i: [c, c.replace("a ", "the ")] for i, c in enumerate(CAPTIONS)}
    cands = ["a dog running on grass", "a cat sits on a mat", "men ride horses on the beach", "a red car"]
    _, expected = Cider().compute_score(refs, {i: [c] for i, c in enumerate(cands)})
    corpus = CiderCorpus(refs.values())
    got = [cider_d(c, refs[i], corpus) for i, c in enumerate(cands)]
    assert got == pytest.approx([min(1.0, e / 10) for e in expected])
    assert max(expected) < 10


def test_cider_corpus_counts_documents_and_does_not_grow_when_scoring():
    corpus = CiderCorpus()
    corpus.add(["a cat", "a cat on a mat"])  # one document: "a" and "cat" count once
    corpus.add("a dog")
    assert len(corpus) == 2
    assert corpus.frequencies[("a",)] == 2 and corpus.frequencies[("cat",)] == 1
    assert corpus.frequencies[("never", "seen")] == 0
    size = len(corpus.frequencies)
    cider_d("a zebra on a unicycle", "a cat", corpus)
    assert len(corpus.frequencies) == size
    # a plain list works too (built per call)
    assert cider_d("a cat sits on the mat", "a cat sits on the mat", CAPTIONS) == pytest.approx(1.0)


# ---------------------------------------------------------------- findings F1


def test_asserted_findings_negation():
    assert asserted_findings("A small nodule. No mass or cyst.", SCAN_TERMS) == {"nodule"}
    assert asserted_findings("No nodule, but a large mass.", SCAN_TERMS) == {"mass"}
    assert asserted_findings("Negative for mass; calcifications are seen.", SCAN_TERMS) == {"calcification"}
    assert asserted_findings("The nodule is absent. Cyst not seen.", SCAN_TERMS) == set()
    assert asserted_findings("No nodule. A nodule in the lower part.", SCAN_TERMS) == {"nodule"}
    assert asserted_findings("No abnormal findings.", SCAN_TERMS) == set()
    assert asserted_findings(
        "Small left pleural effusion, no pneumothorax.", ["pleural effusion", "pneumothorax"]
    ) == {"pleural effusion"}
    assert asserted_findings("a massive cystic change", SCAN_TERMS) == set()  # whole words only


def test_findings_f1_hand_checked():
    assert findings_f1(
        "A small nodule. No mass or cyst.", "A nodule and a cyst.", SCAN_TERMS
    ) == pytest.approx(2 / 3)
    assert findings_f1("Nodule and mass.", "A mass and a nodule are present.", SCAN_TERMS) == 1.0
    assert findings_f1("No abnormal findings.", "No nodule, cyst or mass.", SCAN_TERMS) == 1.0  # both normal
    assert findings_f1("A large mass.", "No abnormal findings.", SCAN_TERMS) == 0.0
    assert findings_f1("No abnormal findings.", "A large mass.", SCAN_TERMS) == 0.0
    assert findings_f1("", "No abnormal findings.", SCAN_TERMS) == findings_f1(None, "mass") == 0.0
    # the default vocabulary holds the scan terms and common chest X-ray findings
    assert findings_f1("Cardiomegaly. No effusion.", "cardiomegaly and small effusion") == pytest.approx(
        2 / 3
    )


def test_findings_f1_pays_a_normal_reference_only_for_a_normal_report():
    """Naming nothing is not a normal report: GRPO learnt to answer "0" for the reward on normal scans."""
    normal = "No abnormal findings."
    assert findings_f1("0", normal, SCAN_TERMS) == 0.0
    assert findings_f1("i count 0 makes 0", normal, SCAN_TERMS) == 0.0
    assert findings_f1("Unremarkable.", normal, SCAN_TERMS) == 1.0
    assert findings_f1("No nodule or mass.", normal, SCAN_TERMS) == 1.0  # findings named only to be negated
    assert states_normal("No nodule or mass.", SCAN_TERMS) and not states_normal("A mass.", SCAN_TERMS)
    assert not states_normal("0", SCAN_TERMS)
