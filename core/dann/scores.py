"""Scores of an adaptation run that need no target labels: what a user can look at to choose a run
when the target has none (pure functions over features and predictions; numpy in, floats out).

- Proxy A-distance (Ben-David et al. 2007; Ganin et al. 2016): 2 (1 - 2 err), err the
  cross-validated error of a linear classifier (logistic regression on standardised features)
  that tells source features from target features. 0: the domains cannot be told apart; 2: they
  separate perfectly. Lower means better aligned features, which is not the same as better target
  accuracy: features can align with the classes scrambled.
- Target prediction entropy: the mean entropy (nats) of the classifier's softmax on target
  items. Lower means more confident predictions.
- Information maximisation (IM; Gomes et al. 2010, used as a validator by SHOT and Musgrave et
  al. 2022): H(mean prediction) - mean H(prediction) over target items. High when every item is
  predicted confidently and the classes are used evenly; it punishes both doubt and collapse
  onto few classes. Higher is better; at most ln(classes).
- Soft neighbourhood density (SND; Saito et al. 2021): the target softmax vectors, L2
  normalised; each item's similarities to the others, a softmax at temperature 0.05; the mean
  entropy of those. High when the predictions form dense neighbourhoods. Higher is better.

How far each score can be trusted is measured, not assumed: bench/da_scores.py ranks runs by each
and reports the rank correlation with their true target accuracy (BENCHMARKS.md).
"""

from __future__ import annotations

import math

import numpy as np

PAD_FOLDS = 5
SND_TEMPERATURE = 0.05
# Which way is better, per score: +1 higher is better, -1 lower is better.
SCORES = {
    "pad": ("proxy A-distance", -1),
    "target_pred_entropy": ("target prediction entropy", -1),
    "im": ("information maximisation", 1),
    "snd": ("soft neighbourhood density", 1),
}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=axis)


def proxy_a_distance(source: np.ndarray, target: np.ndarray, folds: int = PAD_FOLDS, seed: int = 0) -> float:
    """2 (1 - 2 err) of a cross-validated linear domain classifier on the two feature sets (n, d)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    source, target = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(f"feature sets of shapes {source.shape} and {target.shape} cannot be compared")
    if min(len(source), len(target)) < folds:
        raise ValueError(f"the proxy A-distance needs at least {folds} items per domain")
    x = np.concatenate([source, target])
    y = np.concatenate([np.zeros(len(source)), np.ones(len(target))])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    accuracy = float(np.mean(cross_val_score(model, x, y, cv=splits)))
    return 2.0 * (1.0 - 2.0 * (1.0 - accuracy))


def prediction_entropy(probs: np.ndarray) -> float:
    return float(_entropy(np.asarray(probs, dtype=np.float64)).mean())


def information_maximisation(probs: np.ndarray) -> float:
    p = np.asarray(probs, dtype=np.float64)
    return float(_entropy(p.mean(axis=0)) - _entropy(p).mean())


def soft_neighbourhood_density(probs: np.ndarray, temperature: float = SND_TEMPERATURE) -> float:
    p = np.asarray(probs, dtype=np.float64)
    if len(p) < 2:
        raise ValueError("SND needs at least 2 target items")
    unit = p / np.linalg.norm(p, axis=1, keepdims=True)
    sim = unit @ unit.T / temperature
    np.fill_diagonal(sim, -np.inf)
    return float(_entropy(softmax(sim)).mean())


def label_free_scores(source_feats: np.ndarray, target_feats: np.ndarray, target_logits: np.ndarray) -> dict:
    """Every score above, by its metrics key; None for a score the items are too few for (the
    proxy A-distance needs PAD_FOLDS items per domain, SND two target items)."""
    probs = softmax(target_logits)
    enough = min(len(source_feats), len(target_feats)) >= PAD_FOLDS
    return {
        "pad": proxy_a_distance(source_feats, target_feats) if enough else None,
        "target_pred_entropy": prediction_entropy(probs) if len(probs) else None,
        "im": information_maximisation(probs) if len(probs) else None,
        "snd": soft_neighbourhood_density(probs) if len(probs) >= 2 else None,
    }


def spearman(a, b) -> float:
    """Spearman's rank correlation of two sequences (average ranks for ties); nan when one is constant."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("spearman needs two sequences of one length, at least 2")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan  # a constant sequence has no ranking
    value = spearmanr(a, b).statistic
    return float(value) if value is not None and math.isfinite(value) else math.nan
