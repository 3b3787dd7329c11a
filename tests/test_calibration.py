"""lib.calibration: expected calibration error on hand-made confidences."""
import numpy as np
import pytest

from lib import calibration


def test_ece_on_a_hand_made_example():
    # bin (0.8, 0.9]: confidence 0.9, accuracy 1/2 -> |0.5 − 0.9| = 0.4 on half the items;
    # bin (0.5, 0.6]: confidence 0.6, accuracy 2/2 -> |1 − 0.6| = 0.4 on the other half
    confidence, correct = np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 0, 1, 1])
    assert calibration.expected_calibration_error(confidence, correct) == pytest.approx(0.4)


def test_ece_is_zero_when_confidence_matches_accuracy():
    confidence = np.array([0.75] * 4 + [0.5] * 2)
    correct = np.array([1, 1, 1, 0, 1, 0])
    assert calibration.expected_calibration_error(confidence, correct) == pytest.approx(0.0)
    assert calibration.expected_calibration_error(np.array([1.0, 1.0]), np.array([1, 1])) == 0.0
    assert np.isnan(calibration.expected_calibration_error(np.array([]), np.array([])))


def test_letter_probabilities_renormalize_over_the_options():
    logprobs = np.log(np.array([[0.02, 0.01, 0.005, 0.005], [0.1, 0.1, 0.1, 0.1]]))
    p = calibration.letter_probabilities(logprobs)
    assert p.sum(axis=1) == pytest.approx([1, 1]) and p[0] == pytest.approx([0.5, 0.25, 0.125, 0.125])


def test_ece_intervals_contain_their_estimates():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.25, 1, 60)
    correct = rng.uniform(size=60) < confidence
    ece, low, high = calibration.ece_interval(confidence, correct, n_boot=200)
    assert low <= ece <= high and ece > 0
    same = calibration.ece_difference((confidence, correct), (confidence, correct), n_boot=200)
    assert same[:3] == (0.0, 0.0, 0.0)                                   # the same items on both sides
    worse = calibration.ece_difference((np.ones(60), correct), (confidence, correct), n_boot=200)
    assert worse[1] <= worse[0] <= worse[2] and worse[0] > 0 and worse[3] > 0
