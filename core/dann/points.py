"""The snapshot items of a DANN run, read back for the maps: which domain and item each point is,
its label, what the network predicted at each epoch, and the item's image from the dataset."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.dann.files import INDEX_FILE, snapshot_file
from core.data import load_domain
from core.data.domains import locate
from core.errors import UserError
from core.runs import RunStore


@dataclass(frozen=True)
class Points:
    """The snapshot items of a run: which domain, which item, its label, and what was predicted."""

    domain: np.ndarray  # uint8 [N]: 0 source, 1 target
    item: np.ndarray  # int64 [N]: index into that domain's evaluation split
    label: np.ndarray  # int64 [N]: -1 where the domain has no labels
    predictions: dict[int, np.ndarray]  # epoch -> int64 [N]
    domain_prob: dict[int, np.ndarray] = field(default_factory=dict)  # epoch -> float32 [N]: P(target)


def load_points(store: RunStore, run_id: str, epochs: Iterable[int]) -> Points:
    """The run's snapshot index, and the predictions and domain probabilities of `epochs`; every
    tensor checked (present, 1-D, one entry per point, whole numbers where ids and labels are), so
    a damaged snapshot is a UserError naming its file."""
    folder = store.path(run_id)
    index = store.read_tensors(run_id, INDEX_FILE)
    source_ids = _vector(index, "source_ids", folder / INDEX_FILE, whole=True)
    target_ids = _vector(index, "target_ids", folder / INDEX_FILE, whole=True)
    item = np.concatenate([source_ids, target_ids]).astype(np.int64)
    n = len(item)
    domain = _vector(index, "domain", folder / INDEX_FILE, n, whole=True)
    labels = _vector(index, "labels", folder / INDEX_FILE, n, whole=True).astype(np.int64)
    if not np.isin(domain, (0, 1)).all() or (domain == 0).sum() != len(source_ids):
        raise UserError(f"{folder / INDEX_FILE}: 'domain' should mark the source points 0 and the target points 1")
    if item.min(initial=0) < 0:
        raise UserError(f"{folder / INDEX_FILE}: item ids must not be negative")
    predictions, domain_prob = {}, {}
    for e in epochs:
        path = folder / snapshot_file(e)
        snapshot = store.read_tensors(run_id, snapshot_file(e))
        predictions[e] = _vector(snapshot, "predictions", path, n, whole=True).astype(np.int64)
        domain_prob[e] = _vector(snapshot, "domain_prob", path, n).astype(np.float32)
    return Points(domain.astype(np.uint8), item, labels, predictions, domain_prob)


def _vector(tensors: dict, name: str, path, length: int | None = None, *, whole: bool = False) -> np.ndarray:
    import torch

    if name not in tensors:
        raise UserError(f"{path} has no {name!r} tensor; the snapshot is damaged")
    tensor = tensors[name]
    if tensor.ndim != 1 or (length is not None and len(tensor) != length):
        want = f"{length} entries" if length is not None else "a 1-D tensor"
        raise UserError(f"{path}: {name!r} has shape {tuple(tensor.shape)}, expected {want} (one per point)")
    if whole and (tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool):
        raise UserError(f"{path}: {name!r} is {tensor.dtype}; expected whole numbers")
    values = tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()
    if not whole and not np.isfinite(values).all():
        raise UserError(f"{path}: {name!r} holds values that are not finite")
    return values


def item_images(
    spec: str, model: str, ids: Sequence[int], *, edges: bool = False, trained_on: Mapping[str, Any] | None = None
) -> np.ndarray:
    """Images `ids` of a domain's evaluation split as the run's network saw them: uint8 (n, H, W, C).

    Never downloads. `trained_on` is what the run recorded about the domain (its run.json
    extra: name, eval_items): data at hand that differs from it (a generated MNIST-M where the
    run read the original, another number of items) would show the wrong images, so it is a
    UserError, checked before anything is decoded where it can be.
    """
    from core.models import MODELS  # torch: only when a map's item images are wanted

    if model not in MODELS:
        raise UserError(f"unknown network {model!r} in the run's config; expected one of {', '.join(MODELS)}")
    recorded = dict(trained_on or {})
    found = locate(spec, download=False).name
    if recorded.get("name") and found != recorded["name"]:
        raise UserError(f"the data at hand for {spec} is {found}, but the run was trained on {recorded['name']}")
    domain = load_domain(spec, MODELS[model].input_spec, edges=edges, download=False)
    images = domain.eval_images
    if recorded.get("eval_items") is not None and len(images) != int(recorded["eval_items"]):
        raise UserError(
            f"{domain.name} at hand has {len(images)} evaluation items, but the run was trained "
            f"with {recorded['eval_items']}; its images would not be the run's"
        )
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(images)):
        raise UserError(f"the run's snapshot names items up to {ids.max()}, but {domain.name} has {len(images)}")
    return images[ids].permute(0, 2, 3, 1).numpy()
