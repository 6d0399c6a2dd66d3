"""Feature maps over epochs: alignment, caching, incremental frames and bad input, on tiny
generated runs written in the run store's real layout."""

import json
import threading

import numpy as np
import pytest
import torch

from core.__main__ import main
from core.dann import maps as map_engine
from core.dann.maps import MapSettings, compute_maps, load_maps, maps_path, procrustes_align
from core.errors import UserError
from core.runs import RunStore

RUN = "dann-test0000"
POINTS, DIMS = 120, 16
TSNE = MapSettings(method="tsne", perplexity=10, pca_dims=8)
PCA = MapSettings(method="pca", pca_dims=8)


def drifting(epochs: int, points: int = POINTS, dims: int = DIMS, seed: int = 0) -> list[np.ndarray]:
    """Five class clusters that separate a little more every epoch, with per-epoch noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(5, dims)) * 3
    labels = np.arange(points) % 5
    base = rng.normal(size=(points, dims))
    return [(1 + 0.2 * e) * centres[labels] + base + 0.05 * rng.normal(size=(points, dims)) for e in range(epochs)]


def write_run(store: RunStore, features: list[np.ndarray], run_id: str = RUN) -> None:
    n = len(features[0])
    writer = store.create(run_id, "dann", {"seed": 7}, epochs_planned=len(features) - 1)
    writer.write_tensors(
        "snapshots/index.safetensors",
        {
            "source_ids": torch.arange(n // 2),
            "target_ids": torch.arange(n - n // 2),
            "labels": torch.arange(n) % 5,
            "domain": (torch.arange(n) >= n // 2).to(torch.uint8),
        },
    )
    for epoch, x in enumerate(features):
        write_snapshot(store, epoch, x, run_id)
    writer.finish()


def write_snapshot(store: RunStore, epoch: int, x: np.ndarray, run_id: str = RUN) -> None:
    from core import atomic

    n = len(x)
    atomic.write_tensors(
        store.path(run_id) / map_engine.snapshot_file(epoch),
        {
            "features": torch.from_numpy(np.asarray(x, np.float32)).half(),
            "predictions": torch.zeros(n, dtype=torch.uint8),
            "domain_prob": torch.zeros(n, dtype=torch.float16),
        },
        {"epoch": str(epoch)},
    )


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


@pytest.fixture
def frames_computed(monkeypatch):
    """Counts the frames the test itself lays out (cache hits and copied frames do not count, nor
    frames that background jobs of earlier tests still compute on their own threads)."""
    calls = []
    real = map_engine.map_frame
    mine = threading.current_thread()

    def counting(z, previous, settings, previous_neighbours=None):
        if threading.current_thread() is mine:
            calls.append(settings.method)
        return real(z, previous, settings, previous_neighbours)

    monkeypatch.setattr(map_engine, "map_frame", counting)
    return calls


@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_recovers_a_rotation_and_reflection_exactly(reflect):
    x = np.random.default_rng(1).normal(size=(50, 2))
    x -= x.mean(0)
    a = 0.9
    q = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    if reflect:
        q = q @ np.diag([1.0, -1.0])
    moved = x @ q + np.array([5.0, -3.0])
    np.testing.assert_allclose(procrustes_align(moved, x), x, atol=1e-12)
    # Rotation and reflection only: a scaled copy stays scaled.
    np.testing.assert_allclose(procrustes_align(2 * moved, x), 2 * x, atol=1e-12)


@pytest.mark.parametrize("shape", [(30, 6), (6, 30)])  # more points than dims, and fewer
def test_reduce_features_keeps_distances_and_fixes_signs(shape):
    x = np.random.default_rng(2).normal(size=shape)
    z = map_engine.reduce_features(x, 50)
    assert z.shape == (shape[0], min(shape))

    def distances(a):
        return np.linalg.norm(a[:, None] - a[None], axis=-1)

    np.testing.assert_allclose(distances(z), distances(x), atol=1e-10)
    assert np.all(np.diff(z.var(0)) <= 1e-12)  # leading components first
    np.testing.assert_allclose(map_engine.reduce_features(-x, 3), z[:, :3], atol=1e-12)  # a sign convention, not chance


def test_exact_neighbours_match_scikit_learn_across_blocks(monkeypatch):
    from sklearn.neighbors import NearestNeighbors

    monkeypatch.setattr(map_engine, "_KNN_BLOCK", 7)
    z = np.random.default_rng(3).normal(size=(40, 5))
    idx, dist = map_engine.nearest_neighbors(z, 6)
    ref_dist, ref_idx = NearestNeighbors(n_neighbors=6, algorithm="brute").fit(z).kneighbors()
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, atol=1e-10)


def test_kept_neighbours_is_the_share_of_a_points_neighbours_the_frame_already_shows():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    neighbours, _ = map_engine.nearest_neighbors(z, 30)
    # a frame that is the features themselves (scaled and rotated) shows every neighbourhood
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert np.array_equal(map_engine.kept_neighbours(3 * z @ rotation, neighbours), np.ones(200))
    # a frame with the points shuffled shows about k / n of them
    shuffled = map_engine.kept_neighbours(z[rng.permutation(200)], neighbours)
    assert shuffled.mean() < 0.1
    # by hand: a point whose frame neighbours are 7 of its 10 true ones
    frame = z.copy()
    moved = neighbours[0, :3]
    frame[moved] += 50.0  # three of point 0's neighbours leave its surroundings in the frame
    kept = map_engine.kept_neighbours(frame, neighbours)
    shown, _ = map_engine.nearest_neighbors(frame, 10)
    assert kept[0] == len(set(shown[0]) & set(neighbours[0, :10])) / 10 <= 0.7


def test_tree_neighbours_in_two_dimensions_match_the_exact_search_and_never_list_the_point_itself():
    from sklearn.neighbors import NearestNeighbors

    y = np.random.default_rng(4).normal(size=(300, 2))
    idx, dist = map_engine.nearest_neighbors(y, 10)  # the k-d tree
    ref_dist, ref_idx = NearestNeighbors(n_neighbors=10, algorithm="brute").fit(y).kneighbors()
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, atol=1e-12)
    # twelve coincident points: each point's neighbours are the eleven others and one more, never itself
    y[:12] = 0.0
    idx, dist = map_engine.nearest_neighbors(y, 12)
    assert not (idx == np.arange(300)[:, None]).any()
    for i in range(12):
        assert set(idx[i, :11]) == set(range(12)) - {i} and np.all(dist[i, :11] == 0.0)


def test_a_later_frame_starts_points_among_their_new_neighbours_by_the_share_given_to_move():
    rng = np.random.default_rng(5)
    previous = rng.normal(size=(50, 2)) * 10
    previous -= previous.mean(axis=0)
    neighbours = np.array([rng.permutation(np.delete(np.arange(50), i))[:12] for i in range(50)])
    stay = np.zeros(50)
    stay[:20] = 1.0  # these stay where they were
    stay[20:30] = 0.5
    start = map_engine.warm_start(previous, neighbours, stay)
    among = np.median(previous[neighbours[:, :10]], axis=1)  # the 10 nearest, as trustworthiness counts
    expected = stay[:, None] * previous + (1 - stay[:, None]) * among
    np.testing.assert_allclose(start, expected - expected.mean(axis=0), atol=1e-12)
    # with every point staying the frame starts exactly where the last one ended
    np.testing.assert_array_equal(
        map_engine.warm_start(previous, neighbours, np.ones(50)), previous - previous.mean(axis=0)
    )


def test_retained_neighbours_is_the_share_of_a_points_feature_neighbours_that_the_new_epoch_kept():
    before = np.array([[1, 2, 3, 4], [0, 2, 3, 4], [0, 1, 3, 4]])
    after = np.array([[4, 3, 2, 1], [2, 9, 8, 7], [5, 6, 7, 8]])  # order within the k does not matter
    np.testing.assert_array_equal(map_engine.retained_neighbours(before, after, k=4), [1.0, 0.25, 0.0])
    # only the k nearest count on either side
    np.testing.assert_array_equal(map_engine.retained_neighbours(before, after, k=1), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(map_engine.retained_neighbours(before, np.roll(before, 1, axis=1), k=4), [1, 1, 1])


def test_a_later_frame_of_unchanged_features_starts_where_the_last_one_ended(monkeypatch):
    """Points move towards their new neighbours only where the features changed them: the same
    features laid out again start exactly from the previous frame, however imperfectly that frame
    shows each point's neighbourhood (t-SNE shows about half of a point's 10 nearest)."""
    from core.dann import tsne_exact

    starts, strengths = [], []

    def descend(start, *args, strength=None, **kwargs):
        starts.append(start)
        strengths.append(strength)
        return np.array(start)

    monkeypatch.setattr(tsne_exact, "descend", descend)
    z = np.random.default_rng(6).normal(size=(120, 8))
    previous = np.random.default_rng(7).normal(size=(120, 2))  # a frame that shows no neighbourhood at all
    previous -= previous.mean(axis=0)
    _, neighbours = map_engine.map_frame(z, previous, MapSettings(method="tsne"), map_engine.feature_neighbours(z))
    np.testing.assert_array_equal(neighbours, map_engine.nearest_neighbors(z, 10)[0])
    np.testing.assert_allclose(starts[0], previous, atol=1e-12)
    # every neighbourhood retained: the anchor is the frame's own, TSNE_ANCHOR times kept
    idx, _ = map_engine.nearest_neighbors(z, 90)
    np.testing.assert_allclose(strengths[0], map_engine.TSNE_ANCHOR * map_engine.kept_neighbours(previous, idx))
    # features whose neighbourhoods all changed start points among their new neighbours, unanchored
    shuffled = z[np.random.default_rng(8).permutation(120)]
    map_engine.map_frame(z, previous, MapSettings(method="tsne"), map_engine.feature_neighbours(shuffled))
    assert np.linalg.norm(starts[1] - previous, axis=1).mean() > 0.3
    retained = map_engine.retained_neighbours(map_engine.nearest_neighbors(shuffled, 10)[0], idx)
    assert retained.mean() < 0.2
    np.testing.assert_allclose(
        strengths[1],
        map_engine.TSNE_ANCHOR
        * map_engine.kept_neighbours(previous, idx)
        * np.minimum(1.0, retained / map_engine.TSNE_ANCHOR_RETAINED),
    )
    with pytest.raises(ValueError, match="previous frame's feature neighbours"):
        map_engine.map_frame(z, previous, MapSettings(method="tsne"))


def _affinities(z, k, perplexity):
    from core.dann import tsne_exact

    idx, dist = map_engine.nearest_neighbors(z, k)
    return idx, dist, tsne_exact.conditional_affinities(dist, perplexity)


def test_conditional_affinities_reach_the_perplexity_and_give_opentsnes_joint_p():
    from openTSNE import affinity
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    from core.dann import tsne_exact

    z = map_engine.reduce_features(drifting(1, points=300)[0], 8) * 40.0  # a scale far from beta = 1
    idx, dist, c = _affinities(z, 30, 10)
    np.testing.assert_allclose(c.sum(axis=1), 1.0, atol=1e-12)
    entropy = -(c * np.log(np.maximum(c, 1e-300))).sum(axis=1)
    np.testing.assert_allclose(np.exp(entropy), 10.0, rtol=2e-5)
    ours = tsne_exact.joint_affinities(idx, c)
    theirs = affinity.PerplexityBasedNN(knn_index=PrecomputedNeighbors(idx, dist), perplexity=10, n_jobs=1).P
    assert abs(ours - theirs).max() <= 1e-4 * theirs.max()  # the bisection tolerances differ (1e-5, 1e-8)


def test_the_exact_gradient_is_opentsnes_gradient_at_theta_zero():
    """Barnes-Hut at theta 0 opens every cell: openTSNE's gradient is then exact too."""
    from openTSNE.tsne import kl_divergence_bh

    from core.dann import tsne_exact

    z = map_engine.reduce_features(drifting(1, points=200)[0], 8)
    idx, _, c = _affinities(z, 30, 10)
    y = np.random.default_rng(1).normal(size=(200, 2)) * 3
    pull, anchor = np.random.default_rng(2).uniform(0, 0.3, size=200) / 200, np.zeros((200, 2))
    _, theirs = kl_divergence_bh(y.copy(), tsne_exact.joint_affinities(idx, c), 1, {"theta": 0.0})
    theirs += pull[:, None] * (y - anchor)
    out = [np.zeros(200) for _ in range(4)]
    f32 = [np.zeros(200, dtype=np.float32) for _ in range(2)]
    weights = c / (2 * c.sum())
    tsne_exact._gradient(y[:, 0].copy(), y[:, 1].copy(), idx, weights, pull, anchor[:, 0], anchor[:, 1], *out, *f32)
    ours = np.stack(out[:2], axis=1)
    assert np.abs(ours - theirs).max() <= 1e-5 * np.abs(theirs).max()  # float32 repulsion


def test_the_exact_descent_follows_opentsnes_descent(monkeypatch):
    """The same optimiser with the same (now exact) gradients: the layouts agree up to what the
    float32 repulsion sum lets the gains drift apart over 80 iterations."""
    from core.dann import tsne_exact

    z = map_engine.reduce_features(drifting(1, points=200)[0], 8)
    idx, _, c = _affinities(z, 30, 10)
    start = np.random.default_rng(1).normal(size=(200, 2)) * 3
    start -= start.mean(axis=0)
    phases = [(40, 4.0, 0.5), (40, 1.0, 0.8)]
    strength = np.random.default_rng(2).uniform(0, 0.3, size=200)
    exact = [map_engine._descend(start, idx, c, phases), map_engine._descend(start, idx, c, phases, start, strength)]
    monkeypatch.setattr(tsne_exact, "EXACT_MAX_POINTS", 10)  # openTSNE's own optimiser
    monkeypatch.setattr(map_engine, "TSNE_THETA", 0.0)
    barnes_hut = [
        map_engine._descend(start, idx, c, phases),
        map_engine._descend(start, idx, c, phases, start, strength),
    ]
    for ours, theirs in zip(exact, barnes_hut):
        assert np.abs(ours - theirs).max() <= 0.01 * np.abs(theirs).max()
    assert np.abs(exact[0] - exact[1]).max() > 0.1 * np.abs(exact[0]).max()  # the anchor made a difference both saw


@pytest.mark.parametrize("exact", [True, False], ids=["exact gradient", "openTSNE Barnes-Hut"])
def test_the_anchor_holds_a_warm_frame_in_place_and_zero_strength_is_plain_t_sne(monkeypatch, exact):
    from core.dann import tsne_exact

    if not exact:
        monkeypatch.setattr(tsne_exact, "EXACT_MAX_POINTS", 10)
    x = drifting(2)
    idx, _, c = _affinities(map_engine.reduce_features(x[1], 8), 30, 10)
    start = np.random.default_rng(1).normal(size=(POINTS, 2)) * 5
    start -= start.mean(axis=0)  # openTSNE keeps the layout centred
    phases = [(30, 4.0, 0.5), (20, 1.0, 0.8)]
    plain = map_engine._descend(start, idx, c, phases)
    zero = map_engine._descend(start, idx, c, phases, anchor=start, strength=np.zeros(POINTS))
    assert np.array_equal(plain, zero)
    held = map_engine._descend(start, idx, c, phases, anchor=start, strength=np.full(POINTS, 0.3))
    free_move = np.linalg.norm(plain - start, axis=1).mean()
    held_move = np.linalg.norm(held - start, axis=1).mean()
    assert held_move < 0.2 * free_move
    # the start is never written into
    fresh = np.random.default_rng(1).normal(size=(POINTS, 2)) * 5
    assert np.array_equal(start, fresh - fresh.mean(axis=0))


@pytest.mark.parametrize("gradient", ["bh", "fft"])
def test_large_snapshots_take_opentsnes_gradients_and_still_give_aligned_frames(store, monkeypatch, gradient):
    from core.dann import tsne_exact

    monkeypatch.setattr(tsne_exact, "EXACT_MAX_POINTS", 50)  # POINTS is above it: openTSNE's optimiser
    if gradient == "fft":
        monkeypatch.setattr(map_engine, "TSNE_BH_MAX_POINTS", 50)
    write_run(store, drifting(2))
    maps = compute_maps(store, RUN, TSNE)
    assert np.isfinite(maps.coords).all() and all(t > 0.8 for t in maps.trustworthiness)
    assert 0 < maps.displacement[1] < np.abs(maps.coords[1]).max()


def test_settings_key_follows_the_fields_the_method_uses():
    assert MapSettings(method="pca", perplexity=5, seed=3).key() == MapSettings(method="pca").key()
    assert MapSettings(method="umap", perplexity=5).key() == MapSettings(method="umap").key()
    assert MapSettings(perplexity=5).key() != MapSettings().key()
    assert MapSettings(method="umap", min_dist=0.5).key() != MapSettings(method="umap").key()
    assert len({MapSettings(method=m).key() for m in map_engine.METHODS}) == 3
    assert MapSettings(perplexity=5).to_dict()["perplexity"] == 5
    with pytest.raises(UserError, match="unknown map method 'mds'"):
        MapSettings(method="mds")


def test_maps_are_cached_then_reused(store, frames_computed):
    write_run(store, drifting(3))
    assert load_maps(store, RUN, TSNE) is None
    progress = []
    maps = compute_maps(store, RUN, TSNE, on_frame=lambda done, total: progress.append((done, total)))
    assert progress == [(0, 3), (1, 3), (2, 3), (3, 3)] and len(frames_computed) == 3
    assert maps.epochs == [0, 1, 2] and maps.coords.shape == (3, POINTS, 2) and maps.coords.dtype == np.float32
    assert maps.displacement[0] is None and all(d > 0 for d in maps.displacement[1:])
    assert all(0.8 < t <= 1.0 for t in maps.trustworthiness) and all(s >= 0 for s in maps.seconds)
    assert maps_path(store, RUN, TSNE).parent == store.path(RUN) / "maps"

    again = compute_maps(store, RUN, TSNE)
    loaded = load_maps(store, RUN, TSNE)
    assert len(frames_computed) == 3  # nothing laid out again
    for other in (again, loaded):
        np.testing.assert_array_equal(other.coords, maps.coords)
        assert other.trustworthiness == maps.trustworthiness and other.displacement == maps.displacement
    np.testing.assert_array_equal(maps.frame(2), maps.coords[2])
    lo, hi = maps.coords.min(axis=(0, 1)), maps.coords.max(axis=(0, 1))
    assert maps.bounds() == (lo[0], hi[0], lo[1], hi[1])
    with pytest.raises(KeyError, match="epoch 9"):
        maps.frame(9)


def test_changed_settings_compute_new_maps_beside_the_old(store, frames_computed):
    write_run(store, drifting(2))
    first = compute_maps(store, RUN, TSNE)
    other = MapSettings(method="tsne", perplexity=12, pca_dims=8)
    assert load_maps(store, RUN, other) is None
    second = compute_maps(store, RUN, other)
    assert len(frames_computed) == 4 and not np.array_equal(first.coords, second.coords)
    np.testing.assert_array_equal(load_maps(store, RUN, TSNE).coords, first.coords)


def test_new_epochs_are_added_incrementally_and_match_a_run_in_one_go(store, tmp_path, frames_computed):
    feats = drifting(3)
    write_run(store, feats[:2])
    compute_maps(store, RUN, TSNE)
    write_snapshot(store, 2, feats[2])
    assert load_maps(store, RUN, TSNE).epochs == [0, 1]
    maps = compute_maps(store, RUN, TSNE)
    assert maps.epochs == [0, 1, 2] and len(frames_computed) == 3

    whole = RunStore(tmp_path / "whole")
    write_run(whole, feats)
    np.testing.assert_array_equal(compute_maps(whole, RUN, TSNE).coords, maps.coords)


def test_a_changed_snapshot_drops_its_frame_and_the_later_ones(store, frames_computed):
    feats = drifting(3)
    write_run(store, feats)
    before = compute_maps(store, RUN, TSNE)
    write_snapshot(store, 1, feats[1] + 1.5 * np.random.default_rng(9).normal(size=feats[1].shape))
    assert load_maps(store, RUN, TSNE).epochs == [0]
    after = compute_maps(store, RUN, TSNE)
    assert len(frames_computed) == 5  # 3, then epochs 1 and 2 again
    np.testing.assert_array_equal(after.coords[0], before.coords[0])
    assert not np.array_equal(after.coords[1], before.coords[1])


def test_a_rewritten_but_identical_snapshot_keeps_the_cache(store, frames_computed):
    feats = drifting(2)
    write_run(store, feats)
    compute_maps(store, RUN, TSNE)
    write_snapshot(store, 1, feats[1])  # new file, new mtime, same features: a deterministic retrain
    assert load_maps(store, RUN, TSNE).epochs == [0, 1]
    compute_maps(store, RUN, TSNE)
    assert len(frames_computed) == 2


def test_identical_snapshots_give_identical_frames(store, tmp_path, frames_computed):
    feats = drifting(3)
    feats[1] = feats[0]
    write_run(store, feats)
    maps = compute_maps(store, RUN, TSNE)
    np.testing.assert_array_equal(maps.coords[1], maps.coords[0])
    assert maps.displacement[1] == 0.0 and maps.trustworthiness[1] == maps.trustworthiness[0]
    assert len(frames_computed) == 2  # epoch 1 is epoch 0's frame, not a new layout

    twin = RunStore(tmp_path / "twin")  # the same snapshots elsewhere: bit for bit the same maps
    write_run(twin, feats)
    np.testing.assert_array_equal(compute_maps(twin, RUN, TSNE).coords, maps.coords)


def test_frames_are_aligned_through_the_per_epoch_pca_basis_changes(store):
    x = drifting(1)[0]
    # The trainer stores each epoch in its own principal axes: the same cloud can come back with
    # its axes reordered and flipped, which must not turn the map.
    write_run(store, [x, -x[:, ::-1]])
    maps = compute_maps(store, RUN, PCA)
    assert maps.displacement[1] < 1e-3 * np.abs(maps.coords[0]).max()


def test_umap_frames_are_laid_out_warm_and_aligned(store):
    write_run(store, drifting(2))
    maps = compute_maps(store, RUN, MapSettings(method="umap", n_neighbors=10, pca_dims=8))
    assert maps.coords.shape == (2, POINTS, 2) and np.isfinite(maps.coords).all()
    assert all(t > 0.8 for t in maps.trustworthiness) and maps.displacement[1] > 0


def test_bad_input_is_a_clear_error(store):
    write_run(store, drifting(1))
    write_snapshot(store, 1, np.zeros((0, DIMS)))
    with pytest.raises(UserError, match="empty"):
        compute_maps(store, RUN, PCA)
    assert load_maps(store, RUN, PCA).epochs == [0]  # the frames before the bad one are kept

    bad = drifting(1)[0]
    bad[3, 2] = np.nan
    write_snapshot(store, 1, bad)
    with pytest.raises(UserError, match="NaN or infinite"):
        compute_maps(store, RUN, PCA)

    with pytest.raises(UserError, match=r"perplexity 50 needs at least 151"):
        compute_maps(store, RUN, MapSettings(perplexity=50))
    with pytest.raises(UserError, match="not found"):
        compute_maps(store, "dann-nothere", PCA)

    store.create("dann-empty", "dann", {}, epochs_planned=1).finish("failed", error="boom")
    with pytest.raises(UserError, match="no feature snapshots"):
        compute_maps(store, "dann-empty", PCA)


def test_command_line(store, capsys):
    write_run(store, drifting(3))
    args = ["maps", RUN, "--method", "pca", "--pca-dims", "8", "--checkpoints", str(store.root)]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["frames"] == 3 and out["computed_now"] == 3 and out["key"] == PCA.key()
    assert [f["epoch"] for f in out["per_frame"]] == [0, 1, 2] and out["mean_displacement"] > 0
    assert main(args) == 0
    shown = capsys.readouterr().out
    assert "3 frames (0 computed now)" in shown and "trustworthiness" in shown

    assert main(["embed", "dann-nothere", "--checkpoints", str(store.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "dann-nothere" in err and "Traceback" not in err


def test_the_first_frame_starts_from_opentsnes_own_pca_initialisation():
    from openTSNE import initialization

    z = map_engine.reduce_features(drifting(1)[0], 8)
    theirs = initialization.jitter(initialization.rescale(z[:, :2]), random_state=3)
    np.testing.assert_allclose(map_engine.pca_start(z, 3), theirs, rtol=1e-12, atol=1e-18)
