"""Aligned feature maps over epochs (core.dann.maps) against scikit-learn's t-SNE computed from scratch
for every frame, side by side on the same frames.

Features are either synthetic class clusters that drift smoothly from epoch to epoch (10 classes,
a source and a target half; classes pull apart and the target's offset shrinks to zero over the
epochs, with fresh noise every epoch), or the snapshots of a stored DANN run (--run). Both are
written to (or copied into) a temporary run store in the trainer's layout, so the maps go through
compute_maps exactly as the app's do, caching included.

    python -m bench.maps [--epochs 20 --points 2000 --dims 512] [--no-write]       # synthetic clusters
    python -m bench.maps --run shipped --checkpoints checkpoints --no-umap        # every shipped DANN run
    python -m bench.maps --run dann-0e4267f7ae04,dann-858f175ace45 --checkpoints checkpoints
    python -m bench.maps --epochs 3 --points 300 --dims 64 --no-write     # a quick smoke run

Targets (issue 18): on every run, every aligned t-SNE frame within 0.01 of scikit-learn's
trustworthiness from scratch, displacement at least 5x smaller than the unaligned from-scratch
maps', the first frame in <= 2 s and later frames in <= 0.5 s each on one CPU core.

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
from core.dann.files import KIND
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
from core.shipped import read_shipped

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
    from core.dann.config import DANNConfig

    config = DANNConfig(epochs=max(1, epochs - 1), snapshot_size=max(1, points // 2), snapshot_dims=dims)
    writer = store.create(RUN_ID, "dann", config.to_dict(), epochs_planned=epochs - 1)
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
    """scikit-learn's t-SNE of every snapshot from scratch (PCA start, as its default): frames,
    seconds, trustworthiness."""
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


def dann_runs(store: RunStore, spec: str) -> list[str]:
    """The run ids `spec` names: comma-separated ids, or "shipped" for the DANN runs the store's
    shipped.json lists (core.shipped)."""
    if spec != "shipped":
        return [r.strip() for r in spec.split(",") if r.strip()]
    return [s.run_id for s in read_shipped(store) if s.run_id.startswith(f"{KIND}-")]


def measure(store: RunStore, perplexity: float, umap: bool) -> dict:
    """Our t-SNE (and UMAP) maps of RUN_ID's snapshots beside scikit-learn's from scratch."""
    tsne = compute_maps(store, RUN_ID, MapSettings(method="tsne", perplexity=perplexity))
    sk_frames, sk_seconds, sk_trust = sklearn_frames(store, perplexity, tsne.settings.pca_dims, tsne.settings.seed)
    sk_aligned = [sk_frames[0]]
    for y in sk_frames[1:]:
        sk_aligned.append(procrustes_align(y, sk_aligned[-1]))
    return {
        "tsne": tsne,
        "tsne_disp": relative_displacement(list(tsne.coords.astype(np.float64))),
        "sk_seconds": sk_seconds,
        "sk_trust": sk_trust,
        "sk_disp": relative_displacement(sk_frames),
        "sk_aligned_disp": relative_displacement(sk_aligned),
        "umap": compute_maps(store, RUN_ID, MapSettings(method="umap")) if umap else None,
    }


def row(name, seconds, trust, disp) -> dict:
    return {
        "maps": name,
        "s/frame": f"{mean(seconds):.2f}",
        "first frame s": f"{seconds[0]:.2f}",
        "later frames s": f"{mean(seconds[1:]):.2f}",
        "trustworthiness (k=10)": f"{mean(trust):.4f}",
        "displacement / radius": f"{mean(disp):.3f}",
    }


def detail_rows(m: dict) -> list[dict]:
    tsne = m["tsne"]
    rows = [
        row(
            "core.dann.maps t-SNE (exact gradient, anchored warm start + Procrustes)",
            tsne.seconds,
            tsne.trustworthiness,
            m["tsne_disp"],
        ),
        row("scikit-learn TSNE from scratch, unaligned", m["sk_seconds"], m["sk_trust"], m["sk_disp"]),
        row(
            "scikit-learn TSNE from scratch, Procrustes-aligned afterwards",
            m["sk_seconds"],
            m["sk_trust"],
            m["sk_aligned_disp"],
        ),
    ]
    if m["umap"] is not None:
        umap = m["umap"]
        disp = relative_displacement(list(umap.coords.astype(np.float64)))
        rows.append(
            row(
                "core.dann.maps UMAP (warm start + Procrustes; first frame compiles)",
                umap.seconds,
                umap.trustworthiness,
                disp,
            )
        )
    return rows


def summary_row(name: str, m: dict) -> dict:
    tsne = m["tsne"]
    gaps = [s - o for s, o in zip(m["sk_trust"], tsne.trustworthiness)]
    ratio = mean(m["sk_disp"]) / mean(m["tsne_disp"]) if mean(m["tsne_disp"]) > 0 else float("inf")
    first, later = tsne.seconds[0], max(tsne.seconds[1:], default=0.0)
    met = {
        "trust": max(gaps) <= 0.01,
        "disp": ratio >= 5.0,
        "first": first <= 2.0,
        "later": later <= 0.5,
    }
    return {
        "run": name,
        "frames": len(tsne.epochs),
        "worst frame: trustworthiness below scikit-learn": f"{max(gaps):+.4f}",
        "displacement, x smaller than unaligned from scratch": f"{ratio:.1f}x",
        "first frame s": f"{first:.2f}",
        "slowest later frame s": f"{later:.2f}",
        "targets met": ", ".join(k for k, ok in met.items() if ok) or "none",
    }, met


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=20, help="frames (synthetic), or the run's first N snapshots")
    ap.add_argument("--points", type=int, default=2000, help="points per frame (synthetic)")
    ap.add_argument("--dims", type=int, default=512, help="feature dimensions (synthetic)")
    ap.add_argument(
        "--run", default=None, help="stored DANN run(s), comma-separated, or 'shipped': their snapshots, not synthetic"
    )
    ap.add_argument("--checkpoints", default=None, help="run store holding --run (default: checkpoints/)")
    ap.add_argument("--perplexity", type=float, default=30.0)
    ap.add_argument("--no-umap", action="store_true", help="skip UMAP (its first call compiles for a while)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    # Imported before anything is timed, as scikit-learn's TSNE is: a frame's time is its layout.
    import openTSNE  # noqa: F401
    import umap  # noqa: F401

    source_store = RunStore(a.checkpoints)
    runs = dann_runs(source_store, a.run) if a.run else [None]
    if not runs:
        raise SystemExit(f"no DANN run with snapshots in {source_store.root}")
    measured, summaries = {}, {}
    for run in runs:
        with tempfile.TemporaryDirectory(prefix="embed-bench-") as tmp:
            if run:
                store = copied_store(Path(tmp), source_store, run, a.epochs)
            else:
                store = synthetic_store(Path(tmp), a.epochs, a.points, a.dims)
            first = store.read_tensors(RUN_ID, snapshot_file(0))["features"]
            frames_n = len(snapshot_epochs(store, RUN_ID))
            shape = f"{frames_n} epochs x {first.shape[0]} points x {first.shape[1]} dims"
            name = run or "synthetic drifting clusters"
            measured[name] = m = measure(store, a.perplexity, umap=not a.no_umap)
        summaries[name] = summary_row(name, m)
        print(f"{name} ({shape}): {summaries[name][0]}", flush=True)

    if len(measured) == 1:
        ((name, m),) = measured.items()
        title = (
            f"Feature maps over epochs: {name if not a.run else 'run ' + name}, {shape}, perplexity {a.perplexity:g}"
        )
        rows = detail_rows(m)
        table = report.markdown_table(rows, list(rows[0]))
    else:
        title = f"Feature maps over epochs: {len(measured)} DANN runs' real snapshots, perplexity {a.perplexity:g}"
        rows = [row for row, _ in summaries.values()]
        table = report.markdown_table(rows, list(rows[0]))
        means = [
            {
                "run": name,
                "trustworthiness, ours / scikit-learn": (
                    f"{mean(m['tsne'].trustworthiness):.4f} / {mean(m['sk_trust']):.4f}"
                ),
                "displacement, ours / unaligned": f"{mean(m['tsne_disp']):.3f} / {mean(m['sk_disp']):.3f}",
                "s/frame, ours / scikit-learn": f"{mean(m['tsne'].seconds):.2f} / {mean(m['sk_seconds']):.2f}",
            }
            for name, m in measured.items()
        ]
        table += "\n\n" + report.markdown_table(means, list(means[0]))
    mets = [met for _, met in summaries.values()]
    targets = [
        ("every frame's trustworthiness within 0.01 of scikit-learn from scratch", "trust"),
        ("displacement >= 5x smaller than unaligned from scratch", "disp"),
        ("first frame <= 2 s on one core", "first"),
        ("every later frame <= 0.5 s on one core", "later"),
    ]
    target_table = report.markdown_table(
        [{"target": t, "runs meeting it": f"{sum(m[key] for m in mets)} of {len(mets)}"} for t, key in targets],
        ["target", "runs meeting it"],
    )
    notes = (
        f"{target_table}\n\ncore.dann.maps runs its layouts on one thread; scikit-learn's TSNE on its default threads "
        f"({torch.get_num_threads()} visible to torch). Time per frame covers PCA to {MapSettings().pca_dims} dims, "
        "neighbours, optimisation and alignment, not the trustworthiness measure. Displacement: mean distance a point "
        "moves between consecutive frames over the frame's RMS radius."
    )
    report.publish(title, table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
