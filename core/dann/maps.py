"""2-D maps of a DANN run's feature snapshots, epoch by epoch: PCA, t-SNE or UMAP, aligned and cached.

Every epoch's snapshot features are reduced with PCA (`pca_dims`, 50 by default) and laid out in
2-D. Frame 0 starts from the PCA layout; every later frame starts from the frame before it and is
then rotated or reflected onto it (orthogonal Procrustes, no rescaling), so a point moves only as
far as its features moved. A snapshot identical to the one before gives the identical frame.

t-SNE is openTSNE's descent (momentum, gains, learning rate N / exaggeration), with the exact
gradient computed in numba (core.dann.tsne_exact) up to 10,000 points: at 2,000 points an
iteration takes about 2.5 ms on one core against 9-11 ms for openTSNE's Barnes-Hut optimiser,
and it has no approximation error (float32 rounding aside); above that, openTSNE's own optimiser
with its FFT gradient. Neighbours are exact (a k-d tree in 2-D, blocked distances otherwise),
and the perplexity calibration is tsne_exact's (Newton steps on the entropy, 15 ms at 2,000
points against openTSNE's 60-85 ms). Frame 0 runs a
shortened usual schedule (100 iterations at exaggeration 12, then 250) from the PCA layout
scaled to openTSNE's initial std of 1e-4, with its seeded jitter. A later frame is dynamic t-SNE
(Rauber et al. 2016) from a warm start: each point starts where it was in the previous frame,
moved towards its new feature neighbours' previous places as far as its feature neighbourhood
changed between the two epochs (`warm_start`, `retained_neighbours`), and the frame minimises
the KL divergence plus an anchor to that start,
(TSNE_ANCHOR / 2N) * sum_i w_i ||y_i - y_i(start)||^2, over 55 iterations at exaggeration 4
and 165 at exaggeration 1.5. The exaggerated phase lets neighbourhoods that changed with the
features re-form (plain warm iterations leave the previous frame's structure in place:
trustworthiness 0.92-0.94 against 0.96-0.97 for t-SNE from scratch); the anchor keeps in place
the points that the previous frame already shows among their new neighbours and whose feature
neighbourhood held (w_i: kept_i, less where fewer than 3/4 of the neighbours were retained).
bench/maps.py measures both against scikit-learn from scratch on every shipped run.

UMAP (umap-learn) gets the same exact neighbours (its own small-data path computes distances one
Python call per pair) and, warm, 200 epochs instead of 500; it rescales its initial layout
itself. Both run on one thread: the layout is then the same whatever the machine's core count,
and training jobs keep the other cores.

No GPU path: a frame of 2,000 points takes a fraction of a second on one core, and PCA of a
2,000 x 64 snapshot takes milliseconds, less than moving it to a GPU and back. The first map
computed on a machine also compiles tsne_exact (a few seconds, cached on disk by numba).

Cache: <run>/maps/<method>-<key>.safetensors, one file written atomically after every frame:
`coords` float32 [frames, points, 2], `epochs` int64, and metadata with the settings and, per
frame, the snapshot's fingerprint (size, mtime, SHA-256 of its features), trustworthiness,
displacement and seconds. A frame is reused while its snapshot is unchanged; a changed snapshot
(a retrained run) drops that frame and every later one, since each frame starts from the one
before.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as safetensors_bytes

from core.dann.files import snapshot_file
from core.errors import UserError
from core.options import option

if TYPE_CHECKING:
    from core.runs import RunStore

METHODS = ("tsne", "umap", "pca")
MAPS_DIR = "maps"
MAPS_FORMAT = "transfer-explorer/maps"
# Part of every cache key: raise a method's number when a change below changes its maps.
ALGORITHM_VERSIONS = {"tsne": 6, "umap": 2, "pca": 2}
TRUST_NEIGHBORS = 10
TSNE_EARLY_ITERATIONS = 100
TSNE_EARLY_EXAGGERATION = 12.0
# Frame 0 runs long enough to settle (openTSNE runs 500). Cut at 150 it was still expanding (RMS
# radius 28 against 35 at 250 on the shipped runs), and each later frame then shrank by about 2%
# (now about 1%), which moved every point a little.
TSNE_ITERATIONS = 250
TSNE_WARM_EXAGGERATED = 55  # iterations of a later frame at TSNE_WARM_EXAGGERATION
TSNE_WARM_EXAGGERATION = 4.0
TSNE_WARM_ITERATIONS = 165  # then iterations at TSNE_WARM_FINAL_EXAGGERATION
# A later frame ends at a mild exaggeration, not at 1: on the shipped runs' snapshots (anchor
# 0.004, 65 + 65 iterations) the worst frame's trustworthiness came within 0.005 of scikit-learn
# from scratch at 1.5, against 0.010 at 1, which leaves room for a stronger anchor (BENCHMARKS.md).
TSNE_WARM_FINAL_EXAGGERATION = 1.5
# Anchor strength of a later frame: point i's anchor gradient is
# (TSNE_ANCHOR * kept_i * min(1, retained_i / TSNE_ANCHOR_RETAINED) / N) times its offset from its
# starting position. kept_i is the share of its 10 nearest neighbours in the previous frame that
# are still among its 10 nearest in the new features; retained_i the share of its 10 nearest in
# the previous epoch's features still among them (`retained_neighbours`). With a learning rate of
# N the anchor pulls back a fixed share of the offset per step whatever the snapshot's size; a
# point whose neighbourhood changed, in the frame or in the features, is left freer to move to its
# new one. Measured on the shipped runs (BENCHMARKS.md, "Feature maps over epochs").
TSNE_ANCHOR = 0.02
TSNE_ANCHOR_RETAINED = 0.75
# openTSNE's own optimiser, above tsne_exact.EXACT_MAX_POINTS: its FFT gradient from
# TSNE_BH_MAX_POINTS on, its Barnes-Hut gradient below (reached only with EXACT_MAX_POINTS set
# lower, as the tests do to check the exact path against it) at this accuracy (openTSNE's default
# is 0.5; 1.0 is a third faster per iteration).
TSNE_THETA = 1.0
TSNE_BH_MAX_POINTS = 10_000
UMAP_WARM_EPOCHS = 200
MIN_POINTS = 3  # fewer cannot be laid out meaningfully in two dimensions
_KNN_BLOCK = 1024  # rows per block of the exact neighbour search, to bound its memory


@dataclass(frozen=True)
class MapSettings:
    """How the maps are made; UserError on a value no method can use."""

    method: str = option("tsne", "map method", choices=METHODS)
    pca_dims: int = option(50, "PCA dimensions the features are reduced to first")
    perplexity: float = option(30.0, "t-SNE perplexity")
    n_neighbors: int = option(15, "UMAP n_neighbors", key="neighbors")
    min_dist: float = option(0.1, "UMAP min_dist")
    seed: int = option(0, "seed of the layout")

    def __post_init__(self):
        if self.method not in METHODS:
            raise UserError(f"unknown map method {self.method!r}; expected one of {', '.join(METHODS)}")
        if self.pca_dims < 2:
            raise UserError(f"pca_dims must be at least 2, got {self.pca_dims}")
        if not self.perplexity > 0:
            raise UserError(f"perplexity must be positive, got {self.perplexity}")
        if self.n_neighbors < 2:
            raise UserError(f"n_neighbors must be at least 2, got {self.n_neighbors}")
        if not 0 <= self.min_dist:
            raise UserError(f"min_dist must be >= 0, got {self.min_dist}")

    def relevant(self) -> dict:
        """The fields that change this method's maps (and the trustworthiness reported with them)."""
        fields = {"method": self.method, "pca_dims": self.pca_dims, "version": ALGORITHM_VERSIONS[self.method]}
        if self.method == "tsne":
            fields |= {"perplexity": float(self.perplexity), "seed": self.seed}
        elif self.method == "umap":
            fields |= {"n_neighbors": self.n_neighbors, "min_dist": float(self.min_dist), "seed": self.seed}
        return fields

    def key(self) -> str:
        """A short stable hash of the fields relevant to `method`."""
        return hashlib.sha256(json.dumps(self.relevant(), sort_keys=True).encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunMaps:
    """Every cached frame of one run under one setting, with its quality measures."""

    run_id: str
    settings: MapSettings
    epochs: list[int]  # epochs that have a frame, ascending (0 = before training)
    coords: np.ndarray  # float32 [len(epochs), n_points, 2], rows in snapshot order
    trustworthiness: list[float]  # per frame, k = 10 (fewer for samples under 21 points)
    displacement: list[float | None]  # mean distance each point moved from the previous frame (None for the first)
    seconds: list[float]  # compute time per frame, not counting the trustworthiness measure

    def frame(self, epoch: int) -> np.ndarray:
        if epoch not in self.epochs:
            raise KeyError(f"no {self.settings.method} frame for epoch {epoch}; frames exist for epochs {self.epochs}")
        return self.coords[self.epochs.index(epoch)]

    def bounds(self) -> tuple[float, float, float, float]:
        """x0, x1, y0, y1 over all frames, for axes that stay fixed while the frames play."""
        lo, hi = self.coords.min(axis=(0, 1)), self.coords.max(axis=(0, 1))
        return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


# ---- pure pieces ---------------------------------------------------------------------------


def reduce_features(features: np.ndarray, dims: int) -> np.ndarray:
    """Centred rows projected onto their `dims` leading principal components (float64).

    Each component's sign is fixed (its largest-magnitude score positive), so the same features
    always give the same projection. The eigenvectors of the smaller of the covariance and Gram
    matrices are used rather than an SVD of the data: four times faster at 2,000 x 512.
    """
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0)
    keep = min(dims, *x.shape)
    if x.shape[1] <= x.shape[0]:
        _, v = np.linalg.eigh(x.T @ x)
        scores = x @ v[:, ::-1][:, :keep]
    else:
        w, u = np.linalg.eigh(x @ x.T)
        scores = u[:, ::-1][:, :keep] * np.sqrt(np.maximum(w[::-1][:keep], 0.0))
    signs = np.sign(scores[np.abs(scores).argmax(axis=0), np.arange(keep)])
    signs[signs == 0] = 1.0
    return scores * signs


def procrustes_align(moving: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`moving`, centred, then rotated or reflected to best match centred `reference` (no scaling).

    The orthogonal R minimising ||moving_c R - reference_c|| is U V^T from the SVD of
    moving_c^T reference_c.
    """
    m = np.asarray(moving, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    m = m - m.mean(axis=0)
    u, _, vt = np.linalg.svd(m.T @ (r - r.mean(axis=0)))
    return m @ (u @ vt)


def mean_displacement(frame: np.ndarray, previous: np.ndarray) -> float:
    """Mean distance each point moved between two frames."""
    return float(np.linalg.norm(np.asarray(frame, np.float64) - previous, axis=1).mean())


def nearest_neighbors(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest other rows by Euclidean distance, nearest first: indices and distances.

    Exact either way: a k-d tree in two or three dimensions (scipy's; 20x faster there), blocks of
    the distance matrix otherwise."""
    z = np.asarray(z, dtype=np.float64)
    n = len(z)
    if z.shape[1] <= 3:
        return _tree_neighbours(z, k)
    sq = np.einsum("ij,ij->i", z, z)
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float64)
    for start in range(0, n, _KNN_BLOCK):
        stop = min(start + _KNN_BLOCK, n)
        d2 = z[start:stop] @ z.T  # then, in place, ||z_i||^2 + ||z_j||^2 - 2 z_i.z_j
        d2 *= -2.0
        d2 += sq[None, :]
        d2 += sq[start:stop, None]
        d2[np.arange(stop - start), np.arange(start, stop)] = np.inf
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        part_d2 = np.take_along_axis(d2, part, axis=1)
        order = np.argsort(part_d2, axis=1, kind="stable")
        idx[start:stop] = np.take_along_axis(part, order, axis=1)
        dist[start:stop] = np.sqrt(np.maximum(np.take_along_axis(part_d2, order, axis=1), 0.0))
    return idx, dist


def _tree_neighbours(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(z).query(z, k + 1)
    # drop each row's own index (first, unless more than k + 1 points coincide with it)
    own = np.argsort(idx == np.arange(len(z))[:, None], axis=1, kind="stable")[:, :k]
    return np.take_along_axis(idx, own, axis=1).astype(np.int64), np.take_along_axis(dist, own, axis=1)


def trustworthiness(z: np.ndarray, frame: np.ndarray) -> float:
    """scikit-learn's trustworthiness at k = 10 (the largest k it allows for tiny samples)."""
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    k = min(TRUST_NEIGHBORS, (len(z) - 1) // 2)
    return float(sk_trustworthiness(z, frame, n_neighbors=k))


def min_points(settings: MapSettings) -> int:
    """Fewest snapshot points the method can lay out with these settings."""
    if settings.method == "tsne":
        return max(MIN_POINTS, int(3 * settings.perplexity) + 1)
    if settings.method == "umap":
        return max(MIN_POINTS, settings.n_neighbors + 1)
    return MIN_POINTS


def _tsne(
    z: np.ndarray, previous: np.ndarray | None, s: MapSettings, previous_neighbours: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The layout and each point's TRUST_NEIGHBORS nearest feature neighbours (the next frame's
    `previous_neighbours`)."""
    from core.dann.tsne_exact import conditional_affinities

    idx, dist = nearest_neighbors(z, min(len(z) - 1, max(1, int(3 * s.perplexity))))
    nearest = idx[:, : min(TRUST_NEIGHBORS, idx.shape[1])]
    conditional = conditional_affinities(dist, s.perplexity)
    if previous is None:
        init = pca_start(z, s.seed)
        phases = [(TSNE_EARLY_ITERATIONS, TSNE_EARLY_EXAGGERATION, 0.5), (TSNE_ITERATIONS, 1.0, 0.8)]
        return _descend(init, idx, conditional, phases), nearest
    if previous_neighbours is None or len(previous_neighbours) != len(z):
        raise ValueError("a later t-SNE frame needs the previous frame's feature neighbours, row for row")
    previous = np.asarray(previous, dtype=np.float64)
    kept = kept_neighbours(previous, idx)
    retained = retained_neighbours(previous_neighbours, idx)
    start = warm_start(previous, idx, stay=1.0 - (1.0 - retained) ** 2)
    phases = [
        (TSNE_WARM_EXAGGERATED, TSNE_WARM_EXAGGERATION, 0.5),
        (TSNE_WARM_ITERATIONS, TSNE_WARM_FINAL_EXAGGERATION, 0.8),
    ]
    strength = TSNE_ANCHOR * kept * np.minimum(1.0, retained / TSNE_ANCHOR_RETAINED)
    return _descend(start, idx, conditional, phases, anchor=start, strength=strength), nearest


def feature_neighbours(z: np.ndarray) -> np.ndarray:
    """Each point's TRUST_NEIGHBORS nearest neighbours in the reduced features (indices, nearest
    first): what a later t-SNE frame compares its own with (`map_frame`'s previous_neighbours)."""
    return nearest_neighbors(z, min(TRUST_NEIGHBORS, len(z) - 1))[0]


def pca_start(z: np.ndarray, seed: int) -> np.ndarray:
    """openTSNE's PCA initialisation (its `rescale` and `jitter`, written out so that the exact
    path does not import openTSNE, which takes about 3 s): the first two principal components
    scaled to a std of 1e-4 along the first, plus seeded Gaussian jitter of 1% of that, so that
    coincident points come apart."""
    y = z[:, :2] / np.std(z[:, 0]) * 1e-4
    return y + np.random.RandomState(seed).normal(0.0, np.std(y[:, 0]) * 0.01, y.shape)


def warm_start(previous: np.ndarray, feature_neighbours: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """Where a later frame starts: each point moved from its place in the previous frame towards
    the median previous place of its TRUST_NEIGHBORS nearest neighbours in the new features, by
    1 - stay. _tsne's `stay` is 1 - (1 - r)^2, r being the share of the point's feature
    neighbourhood that the new epoch kept (`retained_neighbours`): a point whose neighbourhood held
    stays put, one whose neighbours are all new starts among them instead of having to cross the
    map during the descent, and one that lost a few moves only a little. (Moving by the share of
    neighbours the previous *frame* failed to show, as before, also moved points whose features had
    not changed at all: a t-SNE frame shows only 45-49% of a point's 10 nearest neighbours. On the
    shipped runs that moved points 16-31% more between frames, for no trustworthiness;
    BENCHMARKS.md.)
    Centred, as openTSNE keeps its layouts."""
    k = min(TRUST_NEIGHBORS, feature_neighbours.shape[1])
    among = np.median(previous[feature_neighbours[:, :k]], axis=1)
    moved = (1.0 - np.asarray(stay, dtype=np.float64))[:, None]
    start = (1.0 - moved) * previous + moved * among
    return start - start.mean(axis=0)


def retained_neighbours(before: np.ndarray, after: np.ndarray, k: int = TRUST_NEIGHBORS) -> np.ndarray:
    """Per point, the share of its k nearest neighbours `before` (indices, nearest first) that are
    still among its k nearest `after`: 1 where the features kept its neighbourhood, 0 where every
    neighbour is new."""
    k = min(k, before.shape[1], after.shape[1])
    hits = (before[:, :k, None] == after[:, None, :k]).any(axis=2).sum(axis=1)
    return hits / k


def kept_neighbours(frame: np.ndarray, feature_neighbours: np.ndarray, k: int = TRUST_NEIGHBORS) -> np.ndarray:
    """Per point, the share of its k nearest neighbours in `frame` (2-D) that are among its k
    nearest in feature space (`feature_neighbours`, nearest first): 1 where the frame already
    shows the point among its neighbours, 0 where none of them is."""
    k = min(k, len(frame) - 1, feature_neighbours.shape[1])
    shown, _ = nearest_neighbors(np.asarray(frame, dtype=np.float64), k)
    return retained_neighbours(shown, feature_neighbours, k)


def _descend(start: np.ndarray, neighbours, conditional, phases, anchor=None, strength=None) -> np.ndarray:
    """openTSNE's gradient descent (momentum, gains, learning rate N / exaggeration) from `start`
    through `phases` of (iterations, exaggeration, momentum), on the KL divergence of the joint
    affinities of `conditional` (p_j|i over `neighbours`) plus, with an anchor,
    sum_i (strength_i / 2N) * ||y_i - anchor_i||^2 (`strength`: one value per point). The exact
    gradient (core.dann.tsne_exact) up to EXACT_MAX_POINTS, openTSNE's own optimiser above: its
    Barnes-Hut gradient below TSNE_BH_MAX_POINTS, FFT interpolation above. Returns a new array;
    `start` is left as it was."""
    from core.dann import tsne_exact

    n = len(start)
    if n <= tsne_exact.EXACT_MAX_POINTS:
        return tsne_exact.descend(start, neighbours, conditional, phases, anchor=anchor, strength=strength)
    from openTSNE.tsne import gradient_descent, kl_divergence_bh, kl_divergence_fft

    y = np.array(start, dtype=np.float64, order="C", copy=True)
    p = tsne_exact.joint_affinities(neighbours, conditional)
    pull = None if anchor is None else (np.asarray(strength, dtype=np.float64) / n)[:, None]
    kl = kl_divergence_bh if n < TSNE_BH_MAX_POINTS else kl_divergence_fft

    def objective(embedding, P, **kwargs):
        error, gradient = kl(embedding, P, **kwargs)
        if pull is not None:
            gradient += pull * (np.asarray(embedding) - anchor)
        return error, gradient

    optimizer = gradient_descent()
    for iterations, exaggeration, momentum in phases:
        optimizer(
            y,
            p,
            iterations,
            objective_function=objective,
            learning_rate=n / exaggeration,
            momentum=momentum,
            exaggeration=exaggeration,
            theta=TSNE_THETA,
            n_jobs=1,
        )
    return y


def _umap(z: np.ndarray, previous: np.ndarray | None, s: MapSettings) -> np.ndarray:
    import umap

    idx, dist = nearest_neighbors(z, s.n_neighbors - 1)
    rows = np.arange(len(z))[:, None]
    # umap-learn counts each point as its own nearest neighbour, at distance 0.
    knn = (np.hstack([rows, idx]).astype(np.int32), np.hstack([np.zeros_like(rows, float), dist]).astype(np.float32))
    model = umap.UMAP(
        n_neighbors=s.n_neighbors,
        min_dist=s.min_dist,
        random_state=s.seed,
        init=z[:, :2] if previous is None else previous,
        n_epochs=None if previous is None else UMAP_WARM_EPOCHS,
        precomputed_knn=knn,
        n_jobs=1,
    )
    with warnings.catch_warnings():
        # It warns that transform() needs a search index we do not give it; maps never transform.
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        return np.asarray(model.fit_transform(z), dtype=np.float64)


def map_frame(
    z: np.ndarray,
    previous: np.ndarray | None,
    settings: MapSettings,
    previous_neighbours: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One frame from PCA-reduced features: laid out from the previous frame (or from PCA when
    there is none), then centred and Procrustes-aligned onto the previous frame. A later t-SNE
    frame also needs the previous frame's feature neighbours (`feature_neighbours` of its
    features), which t-SNE returns beside the frame for the next one (None for UMAP and PCA):
    found during the layout, they cost nothing more there."""
    neighbours = None
    if settings.method == "tsne":
        y, neighbours = _tsne(z, previous, settings, previous_neighbours)
    elif settings.method == "umap":
        y = _umap(z, previous, settings)
    else:
        y = z[:, :2]
    if previous is None:
        return y - y.mean(axis=0), neighbours
    return procrustes_align(y, previous), neighbours


# ---- snapshots and the cache ---------------------------------------------------------------


def snapshot_epochs(store: RunStore, run_id: str) -> list[int]:
    """Epochs whose feature snapshot exists in the run, ascending; UserError for an unknown run."""
    info = store.get(run_id)
    folder = info.path / "snapshots"
    epochs = []
    for path in folder.glob("epoch_*.safetensors") if folder.is_dir() else []:
        number = path.stem.removeprefix("epoch_")
        if number.isdigit():
            epochs.append(int(number))
    return sorted(epochs)


def _features_hash(x: np.ndarray) -> str:
    return hashlib.sha256(f"{x.dtype}{x.shape}".encode() + np.ascontiguousarray(x).tobytes()).hexdigest()


def _read_features(store: RunStore, run_id: str, epoch: int, settings: MapSettings) -> tuple[np.ndarray, dict]:
    """The epoch's features (as stored, float16) and their fingerprint; UserError when unusable."""
    name = snapshot_file(epoch)
    path = store.path(run_id) / name
    stat = path.stat() if path.is_file() else None  # before reading: a file replaced meanwhile then fails the check
    tensors = store.read_tensors(run_id, name)
    if "features" not in tensors:
        raise UserError(f"{path} has no 'features' tensor; expected a DANN feature snapshot")
    x = _as_numpy(tensors["features"], path)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise UserError(f"{path}: the snapshot is empty (features of shape {list(x.shape)}); expected [points, dims]")
    if x.shape[1] < 2:
        raise UserError(f"{path}: features have {x.shape[1]} dimension; a 2-D map needs at least 2 (--snapshot-dims)")
    finite = np.isfinite(x)
    if not finite.all():
        raise UserError(
            f"{path}: {int((~finite).sum())} of {x.size} feature values are NaN or infinite "
            f"(the network diverged by epoch {epoch}); retrain with a lower learning rate"
        )
    need = min_points(settings)
    if x.shape[0] < need:
        what = {"tsne": f"perplexity {settings.perplexity:g}", "umap": f"n_neighbors {settings.n_neighbors}"}
        raise UserError(
            f"{path} holds {x.shape[0]} points; {settings.method} with {what.get(settings.method, 'two dimensions')} "
            f"needs at least {need}: lower it or store a larger snapshot (--snapshot-size)"
        )
    fingerprint = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": _features_hash(x)}
    return x, fingerprint


def _as_numpy(features, path: Path) -> np.ndarray:
    """Snapshot features as NumPy: float16 or float32 as stored, bfloat16 (which NumPy lacks) as
    float32; anything else is a UserError."""
    import torch

    if features.dtype in (torch.float16, torch.float32):
        return features.numpy()
    if features.dtype == torch.bfloat16:
        return features.float().numpy()
    raise UserError(f"{path}: features are {features.dtype}; expected floating-point snapshot features")


def _unchanged(store: RunStore, run_id: str, epoch: int, fingerprint: dict) -> bool:
    path = store.path(run_id) / snapshot_file(epoch)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    if stat.st_size == fingerprint.get("size") and stat.st_mtime_ns == fingerprint.get("mtime_ns"):
        return True
    path = store.path(run_id) / snapshot_file(epoch)
    try:
        x = _as_numpy(store.read_tensors(run_id, snapshot_file(epoch))["features"], path)
    except (UserError, KeyError):
        return False
    return _features_hash(x) == fingerprint.get("sha256")


def maps_path(store: RunStore, run_id: str, settings: MapSettings) -> Path:
    return store.path(run_id) / MAPS_DIR / f"{settings.method}-{settings.key()}.safetensors"


def _read_cache(path: Path, settings: MapSettings) -> tuple[np.ndarray, list[dict]] | None:
    """Cached coords and frame records; None when absent, unreadable or for other settings."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            coords = f.get_tensor("coords")
        frames = json.loads(meta["frames"])
        ok = meta.get("format") == MAPS_FORMAT and json.loads(meta["settings"]) == settings.relevant()
    except (SafetensorError, OSError, KeyError, ValueError, TypeError):
        return None
    if not ok or not isinstance(frames, list) or coords.ndim != 3 or coords.shape[0] != len(frames):
        return None
    # the cache is the app's own derived data: a damaged one is laid out again, not reported
    if coords.dtype != np.float32 or coords.shape[2] != 2 or not np.isfinite(coords).all():
        return None
    if not all(isinstance(f, dict) and _cached_frame(f) for f in frames):
        return None
    return coords, frames


def _cached_frame(frame: dict) -> bool:
    """Whether a cached frame record has the fields, of the types, that this module writes."""
    number = (int, float)
    epoch, trust, moved, seconds = (frame.get(k) for k in ("epoch", "trustworthiness", "displacement", "seconds"))
    return (
        isinstance(epoch, int)
        and not isinstance(epoch, bool)
        and epoch >= 0
        and isinstance(trust, number)
        and (moved is None or isinstance(moved, number))
        and isinstance(seconds, number)
        and isinstance(frame.get("fingerprint"), dict)
    )


def _write_cache(path: Path, settings: MapSettings, coords: list[np.ndarray], frames: list[dict]) -> None:
    from core import atomic  # imports torch: deferred so that importing this module stays light

    tensors = {
        "coords": np.stack(coords).astype(np.float32),
        "epochs": np.array([f["epoch"] for f in frames], dtype=np.int64),
    }
    metadata = {
        "format": MAPS_FORMAT,
        "settings": json.dumps(settings.relevant(), sort_keys=True),
        "frames": json.dumps(frames),
    }
    atomic.write_bytes(path, safetensors_bytes(tensors, metadata=metadata))


def _valid_frames(store: RunStore, run_id: str, settings: MapSettings, epochs: list[int]):
    """The cached frames that still hold: in the order of `epochs`, each snapshot unchanged."""
    cached = _read_cache(maps_path(store, run_id, settings), settings)
    if cached is None:
        return [], []
    coords, frames = cached
    keep = 0
    for frame, epoch in zip(frames, epochs):
        if frame.get("epoch") != epoch or not _unchanged(store, run_id, epoch, frame.get("fingerprint", {})):
            break
        keep += 1
    return [c.astype(np.float32) for c in coords[:keep]], frames[:keep]


def _run_maps(run_id: str, settings: MapSettings, coords: list[np.ndarray], frames: list[dict]) -> RunMaps:
    return RunMaps(
        run_id=run_id,
        settings=settings,
        epochs=[f["epoch"] for f in frames],
        coords=np.stack(coords).astype(np.float32),
        trustworthiness=[f["trustworthiness"] for f in frames],
        displacement=[f["displacement"] for f in frames],
        seconds=[f["seconds"] for f in frames],
    )


def load_maps(store: RunStore, run_id: str, settings: MapSettings) -> RunMaps | None:
    """Cached frames for this run and settings, or None when nothing is cached. Never computes."""
    coords, frames = _valid_frames(store, run_id, settings, snapshot_epochs(store, run_id))
    return _run_maps(run_id, settings, coords, frames) if frames else None


def compute_maps(
    store: RunStore,
    run_id: str,
    settings: MapSettings,
    on_frame: Callable[[int, int], None] | None = None,
) -> RunMaps:
    """Compute every snapshot epoch that is not cached yet (each new frame starting from the
    previous frame's layout, then Procrustes-aligned to it), store incrementally in the run
    folder, return all frames. on_frame(done, total) reports progress: once with the frames found
    cached, then after each new frame. Safe to call while the run is still training: it covers
    the snapshots that exist now; calling it again later adds the new epochs. Raises UserError
    on bad input."""
    epochs = snapshot_epochs(store, run_id)
    if not epochs:
        raise UserError(
            f"run {run_id!r} has no feature snapshots yet (expected {store.path(run_id) / snapshot_file(0)})"
        )
    path = maps_path(store, run_id, settings)
    coords, frames = _valid_frames(store, run_id, settings, epochs)
    if on_frame is not None:
        on_frame(len(frames), len(epochs))
    previous_neighbours = None  # the last frame's feature neighbours, once this call has them (t-SNE)
    for epoch in epochs[len(frames) :]:
        x, fingerprint = _read_features(store, run_id, epoch, settings)
        previous = coords[-1].astype(np.float64) if coords else None
        if previous is not None and len(x) != len(previous):
            raise UserError(
                f"{store.path(run_id) / snapshot_file(epoch)} holds {len(x)} points but earlier snapshots hold "
                f"{len(previous)}; the run folder is inconsistent — delete the run to retrain"
            )
        t0 = time.perf_counter()
        if previous is not None and fingerprint["sha256"] == frames[-1]["fingerprint"]["sha256"]:
            y, trust = previous, frames[-1]["trustworthiness"]
            seconds = time.perf_counter() - t0
        else:
            if settings.method == "tsne" and previous is not None and previous_neighbours is None:
                before, _ = _read_features(store, run_id, frames[-1]["epoch"], settings)  # a cached frame's
                previous_neighbours = feature_neighbours(reduce_features(before, settings.pca_dims))
            z = reduce_features(x, settings.pca_dims)
            y, previous_neighbours = map_frame(z, previous, settings, previous_neighbours)
            seconds = time.perf_counter() - t0
            trust = trustworthiness(z, y)
        coords.append(y.astype(np.float32))
        frames.append(
            {
                "epoch": epoch,
                "fingerprint": fingerprint,
                "trustworthiness": trust,
                "displacement": None if previous is None else mean_displacement(coords[-1], coords[-2]),
                "seconds": seconds,
            }
        )
        _write_cache(path, settings, coords, frames)
        if on_frame is not None:
            on_frame(len(frames), len(epochs))
    return _run_maps(run_id, settings, coords, frames)


def limit_threads(threads: int) -> None:
    """Lower the pools the maps use to `threads`: OpenMP/BLAS (t-SNE, PCA) process-wide and
    numba's (UMAP), which is per thread, for the calling thread. Never raises a limit."""
    import numba
    import sklearn.manifold  # noqa: F401  (loads scikit-learn's OpenMP runtime so it can be limited)
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=min(threads, torch.get_num_threads()))
    numba.set_num_threads(min(threads, numba.get_num_threads()))
