"""Calibration of the MMLU letter probabilities (07_capability): expected calibration error.

Pure functions on arrays: no model code, no I/O.

The four letter log-likelihoods of a question, renormalized over A–D, give the model's probability for
each option; its confidence is the largest one and it is right when that letter is the answer. With the
confidences cut into B equal-width bins over [0, 1],

    ECE = Σ_b (n_b / n) · |accuracy_b − mean confidence_b|,

0 for a model whose 70%-confident answers are right 70% of the time. ECE on n items is biased upward
(noise alone puts accuracy and confidence apart within a bin), so its interval is a bootstrap over
questions re-centred by the bootstrap bias and widened to contain the estimate (as lib.spread does for
TV), and vanilla and trained are compared on the same resampled questions.
"""
from __future__ import annotations

import math

import numpy as np

from lib.spread import _bias_corrected_interval

N_BINS = 10


def letter_probabilities(logprobs: np.ndarray) -> np.ndarray:
    """Rows of option log-likelihoods → probabilities renormalized over the options (softmax per row)."""
    logprobs = np.asarray(logprobs, dtype=float)
    shifted = np.exp(logprobs - logprobs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """Σ_b (n_b/n)·|accuracy_b − confidence_b| over equal-width bins (b/B, (b+1)/B], the first bin closed."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    if confidence.size == 0:
        return math.nan
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    error = 0.0
    for b in np.unique(bins):
        inside = bins == b
        error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def _bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def ece_interval(confidence: np.ndarray, correct: np.ndarray, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """(ECE, low, high): the bias-corrected bootstrap interval over items, which contains the ECE."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    point = expected_calibration_error(confidence, correct)
    if confidence.size == 0:
        return (math.nan, math.nan, math.nan)
    boot = np.array([expected_calibration_error(confidence[i], correct[i])
                     for i in _bootstrap_indices(confidence.size, n_boot, seed)])
    return (point, *_bias_corrected_interval(point, boot, level))


def ece_difference(treated: tuple[np.ndarray, np.ndarray], baseline: tuple[np.ndarray, np.ndarray],
                   n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float, float]:
    """(ECE treated − ECE baseline, low, high, bootstrap standard error), both (confidence, correct) over the
    same items in the same order; each bootstrap draw resamples the same items on both sides (paired)."""
    tc, tk = (np.asarray(a, dtype=float) for a in treated)
    bc, bk = (np.asarray(a, dtype=float) for a in baseline)
    if tc.size != bc.size:
        raise ValueError("treated and baseline must hold the same items")
    point = expected_calibration_error(tc, tk) - expected_calibration_error(bc, bk)
    if tc.size == 0:
        return (math.nan, math.nan, math.nan, math.nan)
    boot = np.array([expected_calibration_error(tc[i], tk[i]) - expected_calibration_error(bc[i], bk[i])
                     for i in _bootstrap_indices(tc.size, n_boot, seed)])
    spread = float(np.std(boot, ddof=1)) if boot.size > 1 else math.nan
    return (point, *_bias_corrected_interval(point, boot, level), spread)
