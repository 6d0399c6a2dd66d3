"""The DANN training loop: one generator that yields a result per epoch.

The same loop serves the CLI, the app's background jobs and the tests. Datasets sit on the device
as uint8 tensors and batches are gathered by index, so there is no DataLoader, no per-image
transform and no worker process on the hot path.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from core import resume
from core.dann.alignment import MultilinearMap, entropy_weights, mk_mmd
from core.dann.config import CONDITIONAL, DANNConfig
from core.dann.scores import label_free_scores
from core.data import Domain, InputSpec, load_domain
from core.device import pick_device, seed_everything
from core.errors import UserError
from core.models import MODELS, DANNNet, build_model, grad_reverse
from core.models.domain_stats import Stats, estimate_statistics, using_statistics
from core.runs import TrainingCancelled, TrainingDiverged

# Snapshot items are drawn with a seed of their own, so runs that differ only in their training
# seed (or schedule) show the same points and can be compared side by side.
SNAPSHOT_SEED = 0
# CDAN's random multilinear map and its domain classifier are drawn from a generator of their own,
# so the rest of the network starts as it would in any other variant of the same seed.
CONDITIONAL_SEED_OFFSET = 7919
EVAL_BATCH = 1024
STATS_ITEMS = 4096  # training images per domain that its normalisation statistics are estimated on

StepCallback = Callable[[int, int], None]

__all__ = ["DANNTrainer", "EpochResult", "Snapshot", "SnapshotIndex", "StepCallback", "TrainingCancelled"]


@dataclass(frozen=True)
class SnapshotIndex:
    """Which items the feature snapshots show: the same ids before training and every epoch.

    Ids index the source and target evaluation splits; `labels` is -1 where a domain has none.
    Rows are all source items first, then all target items (`domain` 0 and 1).
    """

    source_ids: torch.Tensor
    target_ids: torch.Tensor
    labels: torch.Tensor
    domain: torch.Tensor


@dataclass(frozen=True)
class Snapshot:
    """Features of the snapshot items at one epoch, compact: the leading principal components
    (float16), the label prediction and the domain classifier's target probability per item."""

    features: torch.Tensor
    predictions: torch.Tensor
    domain_prob: torch.Tensor
    explained_variance: float


@dataclass(frozen=True)
class EpochResult:
    """Epoch 0 is the untrained network; epoch k the state after k passes."""

    epoch: int
    metrics: dict[str, float | int | None]
    snapshot: Snapshot


def class_balanced_sample(labels: torch.Tensor | None, count: int, n: int, seed: int) -> torch.Tensor:
    """`count` item ids out of `n`: equally many per class when labels exist, uniform otherwise."""
    g = torch.Generator().manual_seed(seed)
    if labels is None:
        return torch.randperm(n, generator=g)[: min(count, n)].sort().values
    classes = labels.unique()
    per_class = max(1, count // len(classes))
    picked = []
    for c in classes:
        members = (labels == c).nonzero().squeeze(1)
        picked.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    return torch.cat(picked).sort().values


def principal_components(x: torch.Tensor, dims: int) -> tuple[torch.Tensor, float]:
    """Project centred rows onto their `dims` leading principal components.

    Returns the projections and the fraction of variance they keep. dims = 0 keeps every
    dimension unprojected (fraction 1.0).
    """
    x = x.double()
    if dims == 0 or dims >= min(x.shape):
        return x.float(), 1.0
    centred = x - x.mean(0, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    total = float((s**2).sum())
    kept = float((s[:dims] ** 2).sum()) / total if total > 0 else 1.0
    return (u[:, :dims] * s[:dims]).float(), kept


class DANNTrainer:
    """Build once from a config, then iterate `epochs()`.

    `domains` lets callers (tests, the app) hand in already-loaded domains; otherwise they are
    loaded from the data directory. `on_step(step, total)` is called after every optimizer
    step; it may raise `TrainingCancelled` to stop.
    """

    def __init__(
        self,
        config: DANNConfig,
        *,
        device: torch.device | str = "auto",
        domains: tuple[Domain, Domain] | None = None,
        on_step: StepCallback | None = None,
        download: bool = True,
    ):
        self.config = config
        self.device = pick_device(device) if isinstance(device, str) else device
        self.on_step = on_step
        self.generator = seed_everything(config.seed)
        spec = MODELS[config.model].input_spec
        if domains is None:
            domains = (
                load_domain(config.source, spec, edges=config.source_edges, download=download),
                load_domain(config.target, spec, download=download),
            )
        _check_domains(config, *domains, spec)
        self.source, self.target = (_on_device(d, self.device) for d in domains)
        model = build_model(config.model, num_classes=len(self.source.classes))
        self.conditional_map: MultilinearMap | None = None
        if config.variant in CONDITIONAL:
            generator = torch.Generator().manual_seed(config.seed + CONDITIONAL_SEED_OFFSET)
            self.conditional_map = MultilinearMap(model.feature_dim, len(self.source.classes), generator)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed + CONDITIONAL_SEED_OFFSET)
                model.domain_head = model.make_domain_head(self.conditional_map.out_dim)
            self.conditional_map.to(self.device)
        self.model: DANNNet = model.to(self.device, memory_format=torch.channels_last)
        self.teacher: DANNNet | None = None
        if config.variant == "dann_pseudo":
            # Left in training mode so that it normalises a target batch with that batch's own
            # statistics, as the student does; its buffers are copied from the student each step.
            self.teacher = copy.deepcopy(self.model).requires_grad_(False)
        self.optimizer = _make_optimizer(config, self.model.parameters())
        self.autocast = self.device.type == "cuda"
        self.snapshot_index = self._snapshot_index()
        self.stats_ids = [
            torch.randperm(len(d.train_images), generator=torch.Generator().manual_seed(SNAPSHOT_SEED))[:STATS_ITEMS]
            for d in (self.source, self.target)
        ]
        self.domain_stats: dict[str, Stats] = {}
        one_pass = max(len(self.source.train_images), len(self.target.train_images)) // config.batch_size
        self.steps_per_epoch = config.steps_per_epoch or one_pass
        if self.steps_per_epoch == 0:
            raise UserError(
                f"batch size {config.batch_size} is larger than both training sets "
                f"({len(self.source.train_images)} source, {len(self.target.train_images)} target images)"
            )
        self.total_steps = self.steps_per_epoch * config.epochs
        if config.adapts and config.schedule.kind == "expr":
            config.schedule.check_steps(self.total_steps)

    def _snapshot_index(self) -> SnapshotIndex:
        n = self.config.snapshot_size
        parts = []
        for d in (self.source, self.target):
            labels = d.eval_labels.cpu() if d.eval_labels is not None else None
            ids = class_balanced_sample(labels, n, len(d.eval_images), SNAPSHOT_SEED)
            lab = labels[ids] if labels is not None else torch.full((len(ids),), -1, dtype=torch.long)
            parts.append((ids, lab))
        (sid, slab), (tid, tlab) = parts
        domain = torch.cat([torch.zeros(len(sid), dtype=torch.uint8), torch.ones(len(tid), dtype=torch.uint8)])
        return SnapshotIndex(sid, tid, torch.cat([slab, tlab]), domain)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.prepare(x).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def _features(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for i in range(0, len(images), EVAL_BATCH):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                out.append(self.model.features(self._prepare(images[i : i + EVAL_BATCH])).float())
        return torch.cat(out) if out else torch.empty(0, self.model.feature_dim, device=self.device)

    @torch.no_grad()
    def _accuracy(self, images: torch.Tensor, labels: torch.Tensor | None) -> float | None:
        if labels is None:
            return None
        correct = 0
        for i in range(0, len(images), EVAL_BATCH):
            feats = self._features(images[i : i + EVAL_BATCH])
            correct += int((self.model.classify(feats).argmax(1) == labels[i : i + EVAL_BATCH]).sum())
        return correct / len(images)

    def _estimate_domain_stats(self) -> dict[str, Stats]:
        stats = {}
        for name, domain, ids in zip(("source", "target"), (self.source, self.target), self.stats_ids):
            images = domain.train_images[ids.to(self.device)]
            batches = (self._prepare(images[i : i + EVAL_BATCH]) for i in range(0, len(images), EVAL_BATCH))
            stats[name] = estimate_statistics(self.model.features, batches)
        return stats

    @torch.no_grad()
    def evaluate(self) -> tuple[dict[str, float | None], Snapshot]:
        """Accuracies and the snapshot, each domain normalised with its own statistics."""
        self.model.eval()
        self.domain_stats = self._estimate_domain_stats()
        idx = self.snapshot_index
        feats, metrics = [], {}
        for name, domain, ids in (("source", self.source, idx.source_ids), ("target", self.target, idx.target_ids)):
            with using_statistics(self.model.features, self.domain_stats[name]):
                feats.append(self._features(domain.eval_images[ids.to(self.device)]))
                metrics[f"{name}_acc"] = self._accuracy(domain.eval_images, domain.eval_labels)
        feats = torch.cat(feats)
        logits = self.model.classify(feats)
        preds = logits.argmax(1)
        domain_prob = torch.sigmoid(self._domain_logits(feats, torch.softmax(logits.float(), 1), 0.0).float())
        is_target = idx.domain.to(self.device).bool()
        metrics["domain_acc"] = float(((domain_prob > 0.5) == is_target).float().mean())
        projected, kept = principal_components(feats.cpu(), self.config.snapshot_dims)
        # the label-free scores, on the snapshot items as the maps show them (so a stored run's
        # snapshots give the proxy A-distance of any epoch again)
        n_source = len(idx.source_ids)
        points = projected.numpy()
        metrics |= label_free_scores(points[:n_source], points[n_source:], logits[n_source:].float().cpu().numpy())
        snapshot = Snapshot(
            features=projected.half(),
            predictions=preds.cpu().to(torch.uint8),
            domain_prob=domain_prob.cpu().half(),
            explained_variance=kept,
        )
        self.model.train()
        return metrics, snapshot

    def _domain_logits(self, feats: torch.Tensor, probs: torch.Tensor | None, lam: float) -> torch.Tensor:
        """Domain logits (N,), > 0 meaning target, with the features behind gradient reversal at
        `lam` (detached at 0). CDAN's classifier sees the multilinear map of the features and
        the (detached) predictions `probs`; the others the features alone."""
        if self.conditional_map is None:
            return self.model.discriminate(feats, lam)
        f = feats.detach() if lam == 0 else grad_reverse(feats, lam)
        return self.model.domain_head(self.conditional_map(f, probs.detach())).squeeze(1)

    def _train_epoch(self, epoch: int) -> dict[str, float | None]:
        cfg, dev, bs = self.config, self.device, self.config.batch_size
        labelled = self.target if cfg.variant == "target_only" else self.source
        n_lab, n_tgt = len(labelled.train_images), len(self.target.train_images)
        lab_order = _cycled_permutation(n_lab, self.steps_per_epoch * bs, self.generator).to(dev)
        tgt_order = _cycled_permutation(n_tgt, self.steps_per_epoch * bs, self.generator).to(dev)
        domain_y = torch.cat([torch.zeros(bs, device=dev), torch.ones(bs, device=dev)])
        # class loss, domain loss, pseudo loss, pseudo rate, pseudo hits, target entropy, MMD
        sums = torch.zeros(7, device=dev)
        first_bad = torch.full((), -1, dtype=torch.long, device=dev)  # the first step whose loss is not finite
        pseudo_known = self.teacher is not None and self.target.train_labels is not None
        lam = lr = 0.0
        for i in range(self.steps_per_epoch):
            step = epoch * self.steps_per_epoch + i
            p = step / self.total_steps
            lam = cfg.schedule(p) if cfg.adapts else 0.0
            lr = cfg.lr(p)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            li, ti = lab_order[i * bs : (i + 1) * bs], tgt_order[i * bs : (i + 1) * bs]
            x_lab, x_tgt = self._prepare(labelled.train_images[li]), self._prepare(self.target.train_images[ti])
            if cfg.augment == "invert":
                x_lab = _invert_channels(x_lab, self.generator)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.autocast):
                # One batch per domain, so normalisation layers see each domain's own statistics.
                # With lambda = 0 and no pseudo-labels the target features only feed the detached
                # domain classifier: no graph is needed for them.
                feats_lab = self.model.features(x_lab)
                with torch.set_grad_enabled(lam != 0 or self.teacher is not None):
                    feats_tgt = self.model.features(x_tgt)
                feats = torch.cat([feats_lab, feats_tgt])
                lab_logits = self.model.classify(feats[:bs])
                class_loss = F.cross_entropy(
                    lab_logits, labelled.train_labels[li], label_smoothing=self.config.label_smoothing
                )
                target_logits = None
                probs = None
                if self.conditional_map is not None:
                    target_logits = self.model.classify(feats[bs:]).float()
                    probs = torch.softmax(torch.cat([lab_logits.float(), target_logits]), 1).detach()
                domain_logits = self._domain_logits(feats, probs, 0.0 if cfg.variant == "dan" else lam).float()
                if cfg.variant == "cdan_e":
                    domain_loss = F.binary_cross_entropy_with_logits(
                        domain_logits, domain_y, weight=entropy_weights(probs)
                    )
                else:
                    domain_loss = F.binary_cross_entropy_with_logits(domain_logits, domain_y)
                loss = class_loss + domain_loss
                if cfg.variant == "dan" and lam != 0:
                    mmd = mk_mmd(feats_lab, feats_tgt, cfg.mmd_estimate)
                    loss = loss + lam * mmd
                    sums[6] += mmd.detach()
                if cfg.target_entropy > 0 and lam != 0:
                    if target_logits is None:
                        target_logits = self.model.classify(feats[bs:]).float()
                    probs = torch.softmax(target_logits, 1)
                    entropy = -(probs * torch.log_softmax(target_logits, 1)).sum(1).mean()
                    loss = loss + cfg.target_entropy * lam * entropy
                    sums[5] += entropy.detach()
                if self.teacher is not None:
                    with torch.no_grad():
                        conf, pseudo = torch.softmax(self.teacher(x_tgt).float(), 1).max(1)
                        keep = conf >= cfg.pseudo_threshold
                    if target_logits is None:
                        target_logits = self.model.classify(feats[bs:]).float()
                    per_item = F.cross_entropy(target_logits, pseudo, reduction="none")
                    pseudo_loss = (per_item * keep).sum() / keep.sum().clamp(min=1)
                    loss = loss + cfg.pseudo_weight * pseudo_loss
                    sums[2] += pseudo_loss.detach()
                    sums[3] += keep.float().mean()
                    if pseudo_known:
                        hits = ((pseudo == self.target.train_labels[ti]) & keep).sum()
                        sums[4] += hits / keep.sum().clamp(min=1)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.teacher is not None:
                _ema_update(self.teacher, self.model, cfg.teacher_decay)
            sums[0] += class_loss.detach()
            sums[1] += domain_loss.detach()
            # kept on the device: one check at the epoch's end, not a synchronisation per step
            first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss.detach()), step + 1, first_bad)
            if self.on_step is not None:
                self.on_step(step + 1, self.total_steps)
        check_finite(self.model, int(first_bad), epoch + 1)
        means = (sums / self.steps_per_epoch).tolist()
        metrics: dict[str, float | None] = {"class_loss": means[0], "domain_loss": means[1], "lambda": lam, "lr": lr}
        if cfg.target_entropy > 0 and cfg.adapts:
            metrics["target_entropy"] = means[5]
        if cfg.variant == "dan":
            metrics["mmd"] = means[6]
        if self.teacher is not None:
            metrics |= {"pseudo_loss": means[2], "pseudo_rate": means[3]}
            metrics["pseudo_acc"] = means[4] if pseudo_known else None
        return metrics

    def _resumable(self) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, torch.Generator]]:
        tensors = {"model": self.model.state_dict()}
        if self.teacher is not None:
            tensors["teacher"] = self.teacher.state_dict()
        return tensors, {"batches": self.generator}

    def resume_state(self, epoch: int, row: dict) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """What continuing after `epoch` needs (core.resume): network, teacher, optimizer, generators."""
        tensors, generators = self._resumable()
        return resume.pack(epoch, row, tensors, self.optimizer, generators)

    def restore(self, state: resume.ResumeState, path) -> None:
        """Take up the state stored after an epoch; `epochs(start=state.epoch)` then goes on."""
        tensors, generators = self._resumable()
        resume.restore(state, path, tensors, self.optimizer, generators)

    def epochs(self, start: int = 0) -> Iterator[EpochResult]:
        """Yield epoch 0 (untrained), then one result per finished epoch; with `start` (after
        `restore`), the epochs after it."""
        if start == 0:
            t0 = time.perf_counter()
            metrics, snapshot = self.evaluate()
            yield EpochResult(0, {"epoch": 0, **metrics, "seconds": time.perf_counter() - t0}, snapshot)
        for epoch in range(start, self.config.epochs):
            t0 = time.perf_counter()
            train_metrics = self._train_epoch(epoch)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            train_seconds = time.perf_counter() - t0
            metrics, snapshot = self.evaluate()
            images = 2 * self.steps_per_epoch * self.config.batch_size
            yield EpochResult(
                epoch + 1,
                {
                    "epoch": epoch + 1,
                    **metrics,
                    **train_metrics,
                    "seconds": time.perf_counter() - t0,
                    "images_per_second": images / train_seconds,
                },
                snapshot,
            )


def check_finite(model: torch.nn.Module, first_bad_step: int, epoch: int) -> None:
    """TrainingDiverged when a step's loss was not finite (first_bad_step > 0) or a weight is not."""
    if first_bad_step > 0:
        raise TrainingDiverged(f"training diverged at epoch {epoch}, step {first_bad_step}: the loss is not finite")
    finite = torch.stack([torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point()])
    if not bool(finite.all()):
        raise TrainingDiverged(f"training diverged in epoch {epoch}: the network's weights are not finite")


def _make_optimizer(config: DANNConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=config.lr.lr0, betas=(config.momentum, 0.999), weight_decay=config.weight_decay
        )
    return torch.optim.SGD(params, lr=config.lr.lr0, momentum=config.momentum, weight_decay=config.weight_decay)


def _check_domains(config: DANNConfig, src: Domain, tgt: Domain, spec: InputSpec) -> None:
    if src.train_labels is None:
        raise UserError(f"source domain {src.spec!r} has no labels; a source must be labelled")
    if config.variant == "target_only" and tgt.train_labels is None:
        raise UserError(f"variant 'target_only' trains on target labels, but {tgt.spec!r} has none")
    if tgt.eval_labels is not None and tgt.classes and tgt.classes != src.classes:
        raise UserError(f"source classes {src.classes} and target classes {tgt.classes} differ")
    expected = (spec.channels, spec.size, spec.size)
    for d in (src, tgt):
        if tuple(d.train_images.shape[1:]) != expected:
            raise UserError(
                f"domain {d.spec!r} has images of shape {tuple(d.train_images.shape[1:])}, expected {expected}"
            )


def _on_device(domain: Domain, device: torch.device) -> Domain:
    """A copy of `domain` with its tensors on `device` (the caller's object is left as it was).

    A transductive domain's eval tensors are its train tensors; each is moved once, so they stay
    one tensor on the device too."""
    moved: dict[int, torch.Tensor] = {}

    def move(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        if id(t) not in moved:
            moved[id(t)] = t.to(device)
        return moved[id(t)]

    return replace(
        domain,
        train_images=move(domain.train_images),
        train_labels=move(domain.train_labels),
        eval_images=move(domain.eval_images),
        eval_labels=move(domain.eval_labels),
    )


def _cycled_permutation(n: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """`length` indices into range(n): fresh shuffles back to back, so a small set repeats
    evenly when the other domain is larger."""
    reps = -(-length // n)
    return torch.cat([torch.randperm(n, generator=generator) for _ in range(reps)])[:length]


def _invert_channels(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each channel of each prepared image (values in [-1, 1]) negated with probability 1/2."""
    flips = torch.randint(0, 2, (x.shape[0], x.shape[1], 1, 1), generator=generator).to(x.device, x.dtype)
    return x * (1.0 - 2.0 * flips)


@torch.no_grad()
def _ema_update(teacher: torch.nn.Module, student: torch.nn.Module, decay: float) -> None:
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.lerp_(s, 1.0 - decay)
    for t, s in zip(teacher.buffers(), student.buffers()):
        t.copy_(s)
