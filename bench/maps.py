"""Aligned feature maps over epochs (core.dann.maps) against scikit-learn's t-SNE computed from scratch
for every frame, side by side on the same frames.

Features are either synthetic class clusters that drift smoothly from epoch to epoch (10 classes,
a source and a target half; classes pull apart and the target's offset shrinks to zero over the
epochs, with fresh noise every epoch), or the snapshots of a stored DANN run (--run). Both are
written to (or copied into) a temporary run store in the trainer's layout, so the maps go through
compute_maps exactly as the app's do, caching included.

    python -m bench.maps [--epochs 20 --points 2000 --dims 512] [--run RUN --checkpoints DIR] [--no-write]
    python -m bench.maps --epochs 3 --points 300 --dims 64 --no-write     # a quick smoke run

Time per frame is the layout's (PCA reduction, neighbours, optimisation, alignment), not the
trustworthiness measure, for both sides. Displacement is reported relative to the frame's RMS
radius, since the two t-SNE implementations lay out at slightly different scales.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench import report
from core import atomic
from core.dann.maps import (
    MapSettings,
    compute_maps,
    procrustes_align,
    reduce_features,
    snapshot_epochs,
    snapshot_file,
    trustworthiness,
)
from core.runs import RunStore

RUN_ID = "dann-bench"


def drifting_features(epochs: int, points: int, dims: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(points) % 10
    target = (np.arange(points) >= points // 2)[:, None].astype(float)
    centres = rng.normal(size=(10, dims))
    shift = rng.normal(size=dims) * 1.5
    twist = rng.normal(size=(10, dims)) * 0.7
    base = rng.normal(size=(points, dims))
    out = []
    for e in range(epochs):
        p = e / max(1, epochs - 1)
        x = (0.4 + 1.6 * p) * centres[labels] + base + (1 - p) * (shift + twist[labels]) * target
        out.append(x + 0.2 * rng.normal(size=(points, dims)))
    return out


def synthetic_store(root: Path, epochs: int, points: int, dims: int) -> RunStore:
    store = RunStore(root)
    writer = store.create(RUN_ID, "dann", {"bench": "synthetic"}, epochs_planned=epochs - 1)
    for epoch, x in enumerate(drifting_features(epochs, points, dims)):
        atomic.write_tensors(
            store.path(RUN_ID) / snapshot_file(epoch),
            {
                "features": torch.from_numpy(x.astype(np.float32)).half(),
                "predictions": torch.zeros(points, dtype=torch.uint8),
                "domain_prob": torch.zeros(points, dtype=torch.float16),
            },
        )
    writer.finish()
    return store


def copied_store(root: Path, source: RunStore, run_id: str, epochs: int) -> RunStore:
    """The run's record and its first `epochs` snapshots, without any maps cached in it."""
    store = RunStore(root)
    (root / RUN_ID / "snapshots").mkdir(parents=True)
    shutil.copy(source.path(run_id) / "run.json", root / RUN_ID / "run.json")
    for epoch in snapshot_epochs(source, run_id)[:epochs]:
        shutil.copy(source.path(run_id) / snapshot_file(epoch), root / RUN_ID / snapshot_file(epoch))
    return store


def relative_displacement(frames: list[np.ndarray]) -> list[float]:
    out = []
    for prev, cur in itertools.pairwise(frames):
        radius = float(np.sqrt(((cur - cur.mean(0)) ** 2).sum(1).mean()))
        out.append(float(np.linalg.norm(cur - prev, axis=1).mean()) / radius)
    return out


def sklearn_frames(store: RunStore, perplexity: float, pca_dims: int, seed: int):
    from sklearn.manifold import TSNE

    frames, seconds, trust = [], [], []
    for epoch in snapshot_epochs(store, RUN_ID):
        x = store.read_tensors(RUN_ID, snapshot_file(epoch))["features"].float().numpy()
        t0 = time.perf_counter()
        z = reduce_features(x, pca_dims)
        y = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
        seconds.append(time.perf_counter() - t0)
        y = y - y.mean(0)
        frames.append(y)
        trust.append(trustworthiness(z, y))
    return frames, seconds, trust


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=20, help="frames (synthetic), or the run's first N snapshots")
    ap.add_argument("--points", type=int, default=2000, help="points per frame (synthetic)")
    ap.add_argument("--dims", type=int, default=512, help="feature dimensions (synthetic)")
    ap.add_argument("--run", default=None, help="use this stored DANN run's snapshots instead of synthetic features")
    ap.add_argument("--checkpoints", default=None, help="run store holding --run (default: checkpoints/)")
    ap.add_argument("--perplexity", type=float, default=30.0)
    ap.add_argument("--no-umap", action="store_true", help="skip UMAP (its first call compiles for a while)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    # Imported before anything is timed, as scikit-learn's TSNE is: a frame's time is its layout.
    import openTSNE  # noqa: F401
    import umap  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="embed-bench-") as tmp:
        if a.run:
            store = copied_store(Path(tmp), RunStore(a.checkpoints), a.run, a.epochs)
        else:
            store = synthetic_store(Path(tmp), a.epochs, a.points, a.dims)
        first = store.read_tensors(RUN_ID, snapshot_file(0))["features"]
        frames_n = len(snapshot_epochs(store, RUN_ID))
        source = f"run {a.run}" if a.run else "synthetic drifting clusters"
        shape = f"{frames_n} epochs x {first.shape[0]} points x {first.shape[1]} dims"

        tsne = compute_maps(store, RUN_ID, MapSettings(method="tsne", perplexity=a.perplexity))
        sk_frames, sk_seconds, sk_trust = sklearn_frames(
            store, a.perplexity, tsne.settings.pca_dims, tsne.settings.seed
        )
        umap = None if a.no_umap else compute_maps(store, RUN_ID, MapSettings(method="umap"))

    ours_disp = relative_displacement(list(tsne.coords.astype(np.float64)))
    sk_disp = relative_displacement(sk_frames)
    sk_aligned = [sk_frames[0]]
    for y in sk_frames[1:]:
        sk_aligned.append(procrustes_align(y, sk_aligned[-1]))
    sk_aligned_disp = relative_displacement(sk_aligned)

    def row(name, seconds, trust, disp):
        return {
            "maps": name,
            "s/frame": f"{mean(seconds):.2f}",
            "first frame s": f"{seconds[0]:.2f}",
            "later frames s": f"{mean(seconds[1:]):.2f}",
            "trustworthiness (k=10)": f"{mean(trust):.4f}",
            "displacement / radius": f"{mean(disp):.3f}",
        }

    rows = [
        row("core.dann.maps t-SNE (openTSNE, warm start + Procrustes)", tsne.seconds, tsne.trustworthiness, ours_disp),
        row("scikit-learn TSNE from scratch, unaligned", sk_seconds, sk_trust, sk_disp),
        row("scikit-learn TSNE from scratch, Procrustes-aligned afterwards", sk_seconds, sk_trust, sk_aligned_disp),
    ]
    if umap is not None:
        umap_disp = relative_displacement(list(umap.coords.astype(np.float64)))
        rows.append(
            row(
                "core.dann.maps UMAP (warm start + Procrustes; first frame compiles)",
                umap.seconds,
                umap.trustworthiness,
                umap_disp,
            )
        )
    columns = list(rows[0])
    table = report.markdown_table(rows, columns)

    speed = mean(sk_seconds) / mean(tsne.seconds)
    worst = max(s - o for s, o in zip(sk_trust, tsne.trustworthiness))
    disp_ratio = mean(sk_disp) / mean(ours_disp)
    targets = [
        ("mean time per aligned t-SNE frame <= 1 s", f"{mean(tsne.seconds):.2f} s", mean(tsne.seconds) <= 1.0),
        ("t-SNE >= 4x faster than scikit-learn from scratch", f"{speed:.1f}x", speed >= 4.0),
        ("trustworthiness within 0.02 of scikit-learn, every frame", f"worst frame {worst:+.4f} below", worst <= 0.02),
        ("displacement >= 3x smaller than unaligned from scratch", f"{disp_ratio:.1f}x", disp_ratio >= 3.0),
    ]
    if umap is not None:
        warm = mean(umap.seconds[1:])
        targets.append(
            (
                "UMAP per frame after the first <= 2 s",
                f"{warm:.2f} s (first, compiling: {umap.seconds[0]:.1f} s)",
                warm <= 2.0,
            )
        )
    target_table = report.markdown_table(
        [{"target": t, "measured": m, "met": "yes" if ok else "no"} for t, m, ok in targets],
        ["target", "measured", "met"],
    )
    title = f"Feature maps over epochs: {source}, {shape}, perplexity {a.perplexity:g}"
    notes = (
        f"{target_table}\n\ncore.dann.maps runs its layouts on one thread; scikit-learn's TSNE on its default threads "
        f"({torch.get_num_threads()} visible to torch). Time per frame covers PCA to {tsne.settings.pca_dims} dims, "
        "neighbours, optimisation and alignment, not the trustworthiness measure. Displacement: mean distance a point "
        "moves between consecutive frames over the frame's RMS radius."
    )
    report.publish(title, table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
