"""DAN's MMD and CDAN's conditional domain classifier at their edges, and the two as variants of the
DANN trainer: identical batches have MMD 0 and a shift raises it, the multilinear map has its
documented shape (and equals the outer product where it is exact), lambda = 0 is source only
exactly, target labels are never read, and the variants train and are stored like the others."""

from __future__ import annotations

import math

import pytest
import torch

from core.dann.alignment import FULL_MOST, RANDOM_DIM, MultilinearMap, entropy_weights, mk_mmd
from core.dann.config import CONDITIONAL, VARIANTS, DANNConfig
from core.dann.schedules import LambdaSchedule
from core.dann.trainer import DANNTrainer
from core.errors import UserError
from tests.synthetic import TINY_DANN, make_pair

TINY = TINY_DANN


def _trained(config: DANNConfig, **kw) -> tuple[DANNTrainer, list]:
    trainer = DANNTrainer(config, device="cpu", domains=make_pair(**kw))
    return trainer, list(trainer.epochs())


# ---- MMD ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("estimate", ["quadratic", "linear"])
def test_mmd_of_identical_batches_is_zero_and_grows_with_a_shift(estimate):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 20, generator=g)
    assert float(mk_mmd(x, x.clone(), estimate)) == pytest.approx(0.0, abs=1e-6)
    y = torch.randn(64, 20, generator=g)  # another sample of the same distribution: about 0
    same = float(mk_mmd(x, y, estimate))
    shifts = [float(mk_mmd(x, y + shift, estimate)) for shift in (0.5, 1.0, 2.0)]
    assert abs(same) < shifts[0] < shifts[1] < shifts[2]
    assert shifts[2] > 10 * abs(same)


def test_quadratic_mmd_is_the_unbiased_u_statistic_by_hand():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g) + 0.7
    z = torch.cat([x, y])
    base = float(sum((a - b).pow(2).sum() for a in z for b in z)) / (10 * 9)

    def k(a, b):
        d = float((a - b).pow(2).sum())
        return sum(math.exp(-d / (base * 2.0**u)) for u in (-2, -1, 0, 1, 2)) / 5

    h = sum(k(x[i], x[j]) + k(y[i], y[j]) - k(x[i], y[j]) - k(x[j], y[i]) for i in range(5) for j in range(5) if i != j)
    assert float(mk_mmd(x, y, "quadratic")) == pytest.approx(h / 20, rel=1e-5)


def test_linear_mmd_is_the_mean_over_consecutive_pairs_by_hand():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g) + 0.5
    pairs = [(2 * i, 2 * i + 1) for i in range(3)]
    sq = lambda a, b: float((a - b).pow(2).sum())
    terms = [(sq(x[i], x[j]), sq(y[i], y[j]), sq(x[i], y[j]), sq(x[j], y[i])) for i, j in pairs]
    base = sum(sum(t) for t in terms) / 12
    k = lambda d: sum(math.exp(-d / (base * 2.0**u)) for u in (-2, -1, 0, 1, 2)) / 5
    expected = sum(k(a) + k(b) - k(c) - k(d) for a, b, c, d in terms) / 3
    assert float(mk_mmd(x, y, "linear")) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="shape"):
        mk_mmd(x, y[:4])
    with pytest.raises(ValueError, match="estimate"):
        mk_mmd(x, y, "cubic")


def test_mmd_gradient_pulls_the_batches_together():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(32, 6, generator=g)
    y = (torch.randn(32, 6, generator=g) + 2.0).requires_grad_(True)
    before = float(mk_mmd(x, y).detach())
    mk_mmd(x, y).backward()
    with torch.no_grad():
        after = float(mk_mmd(x, y - 0.5 * y.grad / y.grad.norm()))
    assert after < before


# ---- CDAN's map ----------------------------------------------------------------------------------------


def test_the_multilinear_map_is_the_outer_product_where_it_is_small():
    feats, probs = torch.randn(4, 6), torch.softmax(torch.randn(4, 3), 1)
    m = MultilinearMap(6, 3)
    assert not m.randomised and m.out_dim == 18
    out = m(feats, probs)
    assert out.shape == (4, 18)
    for n in range(4):
        assert torch.allclose(out[n].view(3, 6), torch.outer(probs[n], feats[n]))


def test_the_randomised_map_has_the_documented_shape_and_keeps_inner_products_in_expectation():
    dim = FULL_MOST // 10 + 1  # ten classes: just over the size where the product is used as it is
    m = MultilinearMap(dim, 10, torch.Generator().manual_seed(0))
    assert m.randomised and m.out_dim == RANDOM_DIM
    feats, probs = torch.randn(2, dim), torch.softmax(3 * torch.randn(2, 10), 1)
    out = m(feats, probs)
    assert out.shape == (2, RANDOM_DIM)
    # E[<T(f1, g1), T(f2, g2)>] = <f1, f2><g1, g2>: the mean over many draws of the random matrices
    exact = float((feats[0] @ feats[1]) * (probs[0] @ probs[1]))
    draws = [MultilinearMap(dim, 10, torch.Generator().manual_seed(s)) for s in range(200)]
    estimate = sum(float(d(feats, probs)[0] @ d(feats, probs)[1]) for d in draws) / len(draws)
    norm = float(feats[0].norm() * feats[1].norm() * probs[0].norm() * probs[1].norm())
    assert abs(estimate - exact) < 0.15 * norm
    again = MultilinearMap(dim, 10, torch.Generator().manual_seed(0))
    assert torch.equal(again(feats, probs), out)  # fixed by its generator: the same map on resume


def test_entropy_weights_favour_confident_predictions_and_average_one():
    probs = torch.tensor([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.8, 0.1, 0.1]])
    w = entropy_weights(probs)
    assert float(w.mean()) == pytest.approx(1.0)
    assert w[0] > w[2] > w[1]
    assert float(w[0] / w[1]) == pytest.approx(2.0 / (1 + 1 / 3), rel=1e-5)  # 1 + e^0 against 1 + e^-ln 3


# ---- the variants in the trainer ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["dan", "cdan", "cdan_e"])
def test_lambda_zero_is_source_only_exactly(variant):
    zero = LambdaSchedule(kind="constant", value=0.0)
    source, source_results = _trained(DANNConfig(**TINY, variant="source_only"))
    other, other_results = _trained(DANNConfig(**TINY, variant=variant, schedule=zero))
    for a, b in zip(source_results, other_results):
        assert a.metrics["source_acc"] == b.metrics["source_acc"]
        assert a.metrics["target_acc"] == b.metrics["target_acc"]
        if a.epoch:
            assert a.metrics["class_loss"] == b.metrics["class_loss"]
        assert torch.equal(a.snapshot.features, b.snapshot.features)
    for part in ("features", "label_head"):
        for (name, p), q in zip(
            getattr(source.model, part).state_dict().items(), getattr(other.model, part).state_dict().values()
        ):
            assert torch.equal(p, q), f"{part}.{name}"


@pytest.mark.parametrize("variant", ["dan", "cdan", "cdan_e"])
def test_the_alignment_moves_the_features_and_never_reads_target_labels(variant):
    config = DANNConfig(**TINY, variant=variant)
    with_labels, without = _trained(config)[1], _trained(config, target_labels=False)[1]
    for a, b in zip(with_labels, without):
        same = {k: v for k, v in a.metrics.items() if k not in ("seconds", "images_per_second", "target_acc")}
        assert same == {k: v for k, v in b.metrics.items() if k in same}
    source = _trained(DANNConfig(**TINY, variant="source_only"))[1]
    assert not torch.equal(with_labels[-1].snapshot.features, source[-1].snapshot.features)
    last = with_labels[-1].metrics
    assert math.isfinite(last["domain_loss"]) and 0 <= last["domain_acc"] <= 1
    if variant == "dan":
        assert last["mmd"] is not None and math.isfinite(last["mmd"])
    else:
        assert "mmd" not in last


def test_cdan_classifies_the_map_and_dan_keeps_the_plain_domain_head():
    cdan = DANNTrainer(DANNConfig(**TINY, variant="cdan"), device="cpu", domains=make_pair())
    first = next(m for m in cdan.model.domain_head.modules() if isinstance(m, torch.nn.Linear))
    assert first.in_features == cdan.conditional_map.out_dim
    dan = DANNTrainer(DANNConfig(**TINY, variant="dan"), device="cpu", domains=make_pair())
    assert dan.conditional_map is None
    assert set(CONDITIONAL) < set(VARIANTS)


def test_the_variants_settings_are_in_their_ids_only():
    dan = DANNConfig(variant="dan")
    assert dan.to_dict()["mmd_estimate"] == "quadratic" and "schedule" in dan.to_dict()
    assert "mmd_estimate" not in DANNConfig(variant="cdan").to_dict()
    assert "mmd_estimate" not in DANNConfig().to_dict()  # DANN's runs keep their ids
    assert DANNConfig(variant="dan", mmd_estimate="linear").run_id() != dan.run_id()
    assert DANNConfig(variant="cdan").run_id() != DANNConfig(variant="cdan_e").run_id()
    with pytest.raises(UserError, match="MMD estimate"):
        DANNConfig(variant="dan", mmd_estimate="cubic")
    for variant in ("dan", "cdan", "cdan_e"):
        config = DANNConfig(variant=variant)
        assert DANNConfig.from_dict(config.to_dict()) == config and config.adapts
