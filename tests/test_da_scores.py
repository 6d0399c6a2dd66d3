"""The label-free scores on constructed features and predictions: identical domains give a proxy
A-distance near 0 and separable ones near 2; the entropy, IM and SND take their known values at
their extremes; a trained run records every score for every epoch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.dann.config import DANNConfig
from core.dann.scores import (
    SCORES,
    information_maximisation,
    prediction_entropy,
    proxy_a_distance,
    soft_neighbourhood_density,
    spearman,
)
from core.dann.trainer import DANNTrainer
from tests.synthetic import TINY_DANN, make_pair


def test_proxy_a_distance_is_near_zero_for_one_domain_and_near_two_for_separable_ones():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    assert abs(proxy_a_distance(a, b)) < 0.25
    shifted = b + np.r_[6.0, np.zeros(15)]  # apart along one direction
    assert proxy_a_distance(a, shifted) > 1.95
    half = b + np.r_[0.8, np.zeros(15)]  # overlapping: in between
    assert 0.25 < proxy_a_distance(a, half) < 1.95
    with pytest.raises(ValueError, match="cannot be compared"):
        proxy_a_distance(a, b[:, :3])


def test_entropy_im_and_snd_at_their_extremes():
    classes = 10
    uniform = np.full((50, classes), 1 / classes)
    one_hot = np.eye(classes)[np.arange(50) % classes]
    collapsed = np.eye(classes)[np.zeros(50, dtype=int)]
    assert prediction_entropy(uniform) == pytest.approx(math.log(classes))
    assert prediction_entropy(one_hot) == pytest.approx(0.0, abs=1e-9)
    assert information_maximisation(one_hot) == pytest.approx(math.log(classes))  # confident and balanced
    assert information_maximisation(uniform) == pytest.approx(0.0, abs=1e-9)  # doubtful
    assert information_maximisation(collapsed) == pytest.approx(0.0, abs=1e-9)  # one class for all
    # SND: one-hot predictions of 10 classes x 5 items: each item's 4 class-mates share its
    # neighbourhood, so its softmax over the others is (nearly) uniform over 4: entropy ln 4
    assert soft_neighbourhood_density(one_hot) == pytest.approx(math.log(4), rel=1e-6)
    # all alike: every other item equally near, entropy ln(n - 1), the largest there is
    assert soft_neighbourhood_density(uniform) == pytest.approx(math.log(49), rel=1e-6)


def test_spearman_ranks_and_ties():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError):
        spearman([1], [1])


def test_every_epoch_records_every_label_free_score():
    trainer = DANNTrainer(DANNConfig(**TINY_DANN), device="cpu", domains=make_pair())
    results = list(trainer.epochs())
    for r in results:
        for key in SCORES:
            assert math.isfinite(r.metrics[key]), (r.epoch, key)
        assert -0.5 <= r.metrics["pad"] <= 2.0
        assert 0.0 <= r.metrics["target_pred_entropy"] <= math.log(10) + 1e-9
    assert set(SCORES) <= set(results[-1].metrics)


def test_too_few_items_leave_a_score_out_instead_of_failing():
    from core.dann.scores import label_free_scores

    rng = np.random.default_rng(1)
    few = label_free_scores(rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 10)))
    assert few["pad"] is None and few["snd"] is not None and few["im"] is not None
    one = label_free_scores(rng.normal(size=(1, 4)), rng.normal(size=(1, 4)), rng.normal(size=(1, 10)))
    assert one["pad"] is None and one["snd"] is None and one["target_pred_entropy"] is not None
