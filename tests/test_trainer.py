import hashlib
import json

import pytest
import torch

from core.dann.config import ENGINE_VERSION, DANNConfig
from core.dann.run import INDEX_FILE, WEIGHTS_FILE, run_dann, snapshot_file, train_epochs
from core.dann.schedules import LambdaSchedule, LrSchedule
from core.dann.trainer import (
    DANNTrainer,
    TrainingCancelled,
    _invert_channels,
    class_balanced_sample,
    principal_components,
)
from core.errors import UserError
from core.runs import RunStore
from tests.synthetic import TINY_DANN, make_pair

TINY = TINY_DANN


def _results(config, **kw):
    trainer = DANNTrainer(config, device="cpu", domains=make_pair(**kw))
    return list(trainer.epochs())


def _comparable(metrics):
    return {k: v for k, v in metrics.items() if k not in ("seconds", "images_per_second", "pseudo_acc")}


def test_yields_the_untrained_epoch_then_one_per_epoch():
    results = _results(DANNConfig(**TINY))
    assert [r.epoch for r in results] == [0, 1, 2]
    last = results[-1].metrics
    for key in ("source_acc", "target_acc", "domain_acc", "class_loss", "domain_loss", "lambda", "lr", "seconds"):
        assert last[key] is not None, key
    assert 0 < last["lambda"] <= 1 and last["lr"] < 0.01
    snap = results[-1].snapshot
    assert snap.features.shape == (100, 16) and snap.features.dtype == torch.float16
    assert snap.predictions.shape == (100,) and snap.domain_prob.shape == (100,)
    assert 0 < snap.explained_variance <= 1


def test_same_seed_same_numbers_on_cpu():
    a, b = _results(DANNConfig(**TINY)), _results(DANNConfig(**TINY))
    for ra, rb in zip(a, b):
        assert _comparable(ra.metrics) == _comparable(rb.metrics)
        assert torch.equal(ra.snapshot.features, rb.snapshot.features)
    c = _results(DANNConfig(**TINY, seed=1))
    assert _comparable(c[-1].metrics) != _comparable(a[-1].metrics)


@pytest.mark.parametrize("variant", ["source_only", "dann", "dann_pseudo"])
def test_target_labels_are_never_used_for_training(variant):
    """Removing the target's training labels changes nothing but the pseudo-label diagnostic."""
    # a threshold just above chance (0.1) so the barely trained teacher hands out pseudo-labels
    config = DANNConfig(**TINY, variant=variant, pseudo_threshold=0.11, teacher_decay=0.5, lr=LrSchedule(lr0=0.05))
    with_labels, without = _results(config), _results(config, target_labels=False)
    for ra, rb in zip(with_labels, without):
        assert _comparable(ra.metrics) == _comparable(rb.metrics)
    if variant == "dann_pseudo":
        assert with_labels[-1].metrics["pseudo_acc"] is not None and without[-1].metrics["pseudo_acc"] is None
        assert with_labels[-1].metrics["pseudo_rate"] > 0


def test_target_only_needs_target_labels():
    with pytest.raises(UserError, match="target_only"):
        DANNTrainer(DANNConfig(**TINY, variant="target_only"), device="cpu", domains=make_pair(target_labels=False))
    assert _results(DANNConfig(**TINY, variant="target_only"))[-1].metrics["target_acc"] is not None


def test_source_only_never_moves_the_features_with_the_domain_loss():
    """With lambda = 0 no gradient of the domain loss reaches the features: training against two
    different targets leaves the feature extractor and the label head bit for bit the same.
    DANN's reversed gradient does move them (the check can fail)."""
    from tests.synthetic import make_domain

    def trained(variant, target_seed):
        config = DANNConfig(**TINY, variant=variant, schedule=LambdaSchedule(kind="constant", value=0.5))
        domains = (make_domain("source", 200, 1), make_domain("target", 200, target_seed))
        trainer = DANNTrainer(config, device="cpu", domains=domains)
        results = list(trainer.epochs())
        parts = (trainer.model.features, trainer.model.label_head)
        return results, {f"{i}.{k}": v.clone() for i, part in enumerate(parts) for k, v in part.named_parameters()}

    results, one = trained("source_only", 2)
    assert all(r.metrics.get("lambda", 0.0) == 0.0 for r in results)
    _, other = trained("source_only", 3)
    assert all(torch.equal(one[k], other[k]) for k in one)
    _, adversarial_one = trained("dann", 2)
    _, adversarial_other = trained("dann", 3)
    assert not all(torch.equal(adversarial_one[k], adversarial_other[k]) for k in adversarial_one)


def test_lambda_follows_the_schedule():
    config = DANNConfig(**TINY, schedule=LambdaSchedule(kind="constant", value=0.3))
    assert {r.metrics["lambda"] for r in _results(config)[1:]} == {0.3}


def test_training_learns_the_synthetic_task():
    config = DANNConfig(**{**TINY, "epochs": 3, "steps_per_epoch": 20}, lr=LrSchedule(lr0=0.05))
    last = _results(config)[-1].metrics
    assert last["source_acc"] > 0.9


def test_target_entropy_term_lowers_target_prediction_entropy():
    plain = _results(DANNConfig(**TINY, target_entropy=0.0))[-1].metrics
    assert "target_entropy" not in plain
    weighted = [_results(DANNConfig(**TINY, target_entropy=w))[-1].metrics for w in (0.1, 10.0)]
    assert all(m["target_entropy"] > 0 for m in weighted)
    assert weighted[1]["target_entropy"] < weighted[0]["target_entropy"]


def test_invert_augmentation_negates_whole_channels_about_half_the_time():
    x = torch.rand(400, 3, 8, 8) * 2 - 1
    y = _invert_channels(x, torch.Generator().manual_seed(0))
    same = (y == x).flatten(2).all(2)
    flipped = (y == -x).flatten(2).all(2)
    assert bool((same ^ flipped).all())  # each channel is kept or negated as a whole
    assert 0.4 < flipped.float().mean() < 0.6
    assert bool((flipped[:, 0] != flipped[:, 1]).any())  # channels flip independently: colours change


def test_invert_augmentation_trains_and_changes_the_run():
    plain = _results(DANNConfig(**TINY, augment="none"))[-1].metrics
    augmented = _results(DANNConfig(**TINY, augment="invert"))[-1].metrics
    assert augmented["source_acc"] is not None and _comparable(augmented) != _comparable(plain)


def test_snapshot_sample_is_class_balanced_and_independent_of_the_seed():
    labels = torch.arange(1000) % 10
    ids = class_balanced_sample(labels, 100, 1000, seed=0)
    assert torch.bincount(labels[ids]).tolist() == [10] * 10
    t1 = DANNTrainer(DANNConfig(**TINY), device="cpu", domains=make_pair())
    t2 = DANNTrainer(DANNConfig(**TINY, seed=5), device="cpu", domains=make_pair())
    assert torch.equal(t1.snapshot_index.source_ids, t2.snapshot_index.source_ids)
    assert torch.equal(t1.snapshot_index.target_ids, t2.snapshot_index.target_ids)
    unlabelled = class_balanced_sample(None, 30, 100, seed=0)
    assert len(unlabelled) == 30 and len(set(unlabelled.tolist())) == 30


def test_principal_components_keep_the_distances_of_low_rank_data():
    torch.manual_seed(0)
    x = torch.randn(200, 5) @ torch.randn(5, 40)
    projected, kept = principal_components(x, 5)
    assert projected.shape == (200, 5) and kept == pytest.approx(1.0)
    exact = "donot_use_mm_for_euclid_dist"
    assert torch.allclose(
        torch.cdist(projected, projected, compute_mode=exact), torch.cdist(x, x, compute_mode=exact), atol=1e-3
    )
    full, kept_all = principal_components(x, 0)
    assert full.shape == (200, 40) and kept_all == 1.0


def test_runs_are_stored_and_found_not_retrained(tmp_path):
    store, config = RunStore(tmp_path), DANNConfig(**TINY)
    first = run_dann(config, store, device="cpu", domains=make_pair())
    assert first.trained and first.info.complete and first.info.epochs_done == 2
    assert [r["epoch"] for r in first.metrics] == [0, 1, 2]
    index = store.read_tensors(config.run_id(), INDEX_FILE)
    assert index["labels"].shape == (100,) and index["domain"].sum() == 50
    assert store.read_tensors(config.run_id(), snapshot_file(2))["features"].shape == (100, 16)
    weights = store.read_tensors(config.run_id(), WEIGHTS_FILE)
    state = set(DANNTrainer(config, device="cpu", domains=make_pair()).model.state_dict())
    per_domain = {k for k in weights if k.startswith("domain_stats.")}
    assert set(weights) - per_domain == state
    assert "domain_stats.target.features.1.running_mean" in per_domain  # each domain's normalisation

    def must_not_train(*_):
        raise AssertionError("a stored config was retrained")

    again = run_dann(config, store, device="cpu", domains=make_pair(), on_step=must_not_train)
    assert not again.trained and again.metrics == first.metrics


def test_cancelling_keeps_finished_epochs(tmp_path):
    store, config = RunStore(tmp_path), DANNConfig(**{**TINY, "epochs": 3})

    def cancel_in_second_epoch(step, total):
        if step == 8:
            raise TrainingCancelled

    epochs = [
        r.epoch for r in train_epochs(config, store, device="cpu", domains=make_pair(), on_step=cancel_in_second_epoch)
    ]
    assert epochs == [0, 1]
    info = store.get(config.run_id())
    assert info.status == "cancelled" and info.epochs_done == 1
    assert len(store.metrics(config.run_id())) == 2
    store.read_tensors(config.run_id(), snapshot_file(1))
    assert store.find(config.run_id()) is None  # an unfinished run is trained again when asked


def test_a_failing_run_records_its_error(tmp_path):
    store, config = RunStore(tmp_path), DANNConfig(**TINY)

    def explode(step, total):
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        run_dann(config, store, device="cpu", domains=make_pair(), on_step=explode)
    info = store.get(config.run_id())
    assert info.status == "failed" and "disk on fire" in info.error


def test_config_hash_depends_only_on_what_matters():
    base = DANNConfig()
    assert base.run_id().startswith("dann-") and len(base.run_id()) == 17
    assert DANNConfig.from_dict(base.to_dict()) == base
    assert DANNConfig(pseudo_threshold=0.5).run_id() == base.run_id()  # not a pseudo-label run
    assert (
        DANNConfig(variant="dann_pseudo", pseudo_threshold=0.5).run_id() != DANNConfig(variant="dann_pseudo").run_id()
    )
    assert (
        DANNConfig(variant="source_only", schedule=LambdaSchedule(kind="constant")).run_id()
        == DANNConfig(variant="source_only").run_id()
    )
    assert DANNConfig(seed=1).run_id() != base.run_id()
    assert DANNConfig(target_entropy=0.1).run_id() != base.run_id()
    assert DANNConfig(augment="none").run_id() != base.run_id()
    # The shipped MNIST -> MNIST-M runs keep their ids (trained before augmentation and the entropy
    # term existed, which their stored configs leave out); USPS runs carry USPS's data version.
    assert DANNConfig(schedule=LambdaSchedule()).run_id() != base.run_id()  # the default ends at 0.3, not 1
    paper_protocol = DANNConfig(schedule=LambdaSchedule(), augment="none", target_entropy=0.0)
    assert paper_protocol.run_id() == "dann-7249803a4895"
    assert "augment" not in paper_protocol.to_dict() and "target_entropy" not in paper_protocol.to_dict()
    assert DANNConfig.from_dict(paper_protocol.to_dict()) == paper_protocol
    assert base.run_id() != paper_protocol.run_id()
    usps = DANNConfig(target="usps")
    legacy = json.dumps({"engine": ENGINE_VERSION, **usps.to_dict()}, sort_keys=True)
    assert usps.run_id() != "dann-" + hashlib.sha256(legacy.encode()).hexdigest()[:12]
    assert DANNConfig(variant="source_only", target_entropy=0.1).run_id() == DANNConfig(variant="source_only").run_id()
    assert DANNConfig(source="folder:/x").model == "course" and base.model == "digit"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variant": "magic"}, "unknown variant"),
        ({"epochs": 0}, "epochs"),
        ({"model": "resnet"}, "unknown model"),
        ({"pseudo_threshold": 1.5}, "pseudo_threshold"),
        ({"steps_per_epoch": -1}, "steps_per_epoch"),
        ({"target_entropy": -1.0}, "target_entropy"),
        ({"augment": "mixup"}, "unknown augmentation"),
        ({"variant": "dan", "mmd_estimate": "cubic"}, "MMD estimate"),
        ({"variant": "dan", "batch_size": 1}, "at least 2 images"),
    ],
)
def test_bad_settings_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        DANNConfig(**kwargs)


def test_label_smoothing_softens_the_class_loss_and_is_out_of_the_id_when_off():
    assert DANNConfig(label_smoothing=0.0).run_id() == DANNConfig().run_id()
    assert "label_smoothing" not in DANNConfig().to_dict()
    smoothed = DANNConfig(**TINY, variant="source_only", label_smoothing=0.2)
    assert DANNConfig.from_dict(smoothed.to_dict()).label_smoothing == 0.2
    assert smoothed.run_id() != DANNConfig(**TINY, variant="source_only").run_id()
    plain, soft = (_results(DANNConfig(**TINY, variant="source_only", label_smoothing=s))[1] for s in (0.0, 0.2))
    # the same first steps, but the smoothed targets can never be met exactly: a higher loss
    assert soft.metrics["class_loss"] > plain.metrics["class_loss"]
    for bad in (-0.1, 1.0):
        with pytest.raises(UserError, match="label_smoothing"):
            DANNConfig(label_smoothing=bad)
