"""The few-shot training loop: one generator that yields a result per epoch.

An epoch is `steps_per_epoch` meta-steps (for the transfer baseline: optimizer steps on ordinary
batches of training classes), then a validation: `val_episodes` episodes of the config's ways and
shots on background characters held out from training (`val_characters` of them, chosen by a
fixed seed, never rotated). The evaluation alphabets are never seen during training, not even to
pick an epoch. Epoch 0 is the untrained learner's validation.

The same loop serves the CLI, the app's background jobs and the tests. Characters sit on the
device as one uint8 tensor; episodes are gathered by index, a whole meta-batch at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core import resume
from core.data.fewshot import load_characters
from core.data.omniglot import CharacterSet, Omniglot
from core.device import pick_device, seed_everything
from core.errors import UserError
from core.fewshot.config import FewShotConfig
from core.fewshot.episodes import ClassPool, rotate, sample_tasks
from core.fewshot.evaluation import Evaluation, Learner, evaluate
from core.fewshot.solvers import Params, batch_plan, meta_step_function
from core.models.conv4 import HEAD_KEYS, Conv4, prepare
from core.runs import TrainingCancelled, TrainingDiverged

__all__ = ["EpochResult", "FewShotTrainer", "StepCallback", "TrainingCancelled", "split_background"]

VAL_SEED = 0  # held-out characters and validation episodes do not move with the training seed
VAL_QUERIES = 5  # per class in a validation episode

StepCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class EpochResult:
    """Epoch 0 is the untrained learner; epoch k the state after k epochs."""

    epoch: int
    metrics: dict[str, float | int | None]


def split_background(characters: CharacterSet, held_out: int) -> tuple[CharacterSet, CharacterSet | None]:
    """(training characters, validation characters): `held_out` characters picked by VAL_SEED."""
    if held_out >= len(characters):
        raise UserError(
            f"val_characters={held_out} would hold out every one of the {len(characters)} characters "
            f"of {characters.name}; keep some to train on"
        )
    order = torch.randperm(len(characters), generator=torch.Generator().manual_seed(VAL_SEED))
    train = characters.subset(order[held_out:].sort().values, f"{characters.name}, training characters")
    if held_out == 0:
        return train, None
    return train, characters.subset(order[:held_out].sort().values, f"{characters.name}, validation characters")


class FewShotTrainer:
    """Build once from a config, then iterate `epochs()`.

    `data` lets callers (tests, the app) hand in character sets already loaded; otherwise they
    are loaded by the config's `data` name. `on_step(step, total)` is called after every
    optimizer step and may raise TrainingCancelled. `batch_mode` ("auto", "vmap", "loop",
    "compiled") says how a meta-batch is computed; "auto" follows the measured rule in
    core.fewshot.solvers, "compiled" is the fast path for long GPU runs.
    """

    def __init__(
        self,
        config: FewShotConfig,
        *,
        device: torch.device | str = "auto",
        data: Omniglot | None = None,
        on_step: StepCallback | None = None,
        download: bool = True,
        batch_mode: str = "auto",
    ):
        self.config = config
        self.device = pick_device(device) if isinstance(device, str) else device
        self.on_step = on_step
        self.plan = batch_plan(self.device, batch_mode)
        self.generator = seed_everything(config.seed)
        self.data = data if data is not None else load_characters(config.data, download)
        train, val = split_background(self.data.background, config.val_characters)
        self.train_pool = ClassPool(train, 4 if config.rotations else 1).to(self.device)
        self.val_pool = ClassPool(val).to(self.device) if val is not None else None
        if config.meta_learning:
            self.train_pool.check(config.ways, config.shots, config.queries)
        if self.val_pool is not None:
            try:
                self.val_pool.check(config.ways, config.shots, VAL_QUERIES)
            except UserError as exc:
                raise UserError(f"validation: {exc} (change val_characters, ways or shots)") from None
        out = config.ways if config.meta_learning else self.train_pool.num_classes
        self.net = Conv4(out).to(self.device)
        # The transfer baseline trains its head over all training classes but, like zero-head
        # MAML, starts every test task from a fresh zero head: only the body is kept.
        keep_head = config.meta_learning and config.head_init == "learned"
        self.meta: dict[str, torch.nn.Parameter] = {
            k: p for k, p in self.net.named_parameters() if keep_head or k not in HEAD_KEYS
        }
        trained = self.net.parameters() if not config.meta_learning else self.meta.values()
        self.optimizer = torch.optim.Adam(trained, lr=config.meta_lr)
        if config.meta_learning:
            self.meta_step = meta_step_function(
                config.solver,
                self.net,
                ways=config.ways,
                steps=config.inner_steps,
                lr=config.inner_lr,
                plan=self.plan,
                head_init=config.head_init,
            )
        self.total_steps = config.epochs * config.steps_per_epoch

    def weights(self) -> Params:
        """The learner's meta-parameters (what a stored run keeps), detached on the CPU."""
        return {k: v.detach().cpu() for k, v in self.meta.items()}

    def learner(self) -> Learner:
        cfg = self.config
        return Learner(
            solver=cfg.solver,
            net=self.net,
            params={k: v.detach() for k, v in self.meta.items()},
            steps=cfg.eval_steps,
            lr=cfg.eval_lr,
            train_steps=cfg.inner_steps if cfg.solver in ("maml", "fomaml") else 0,
            train_lr=cfg.inner_lr if cfg.solver in ("maml", "fomaml") else 0.0,
            device=self.device,
            data=cfg.data,
            head_init=cfg.head_init if cfg.solver in ("maml", "fomaml") else "zero",
        )

    def validate(self) -> Evaluation | None:
        if self.val_pool is None:
            return None
        cfg = self.config
        return evaluate(
            self.learner(),
            self.val_pool,
            cfg.ways,
            cfg.shots,
            VAL_QUERIES,
            cfg.val_episodes,
            plan=self.plan,
            seed=VAL_SEED,
        )

    def _meta_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        tasks = sample_tasks(
            self.train_pool, cfg.ways, cfg.shots, cfg.queries, cfg.meta_batch, self.generator, cfg.task_aug
        )
        step = self.meta_step(self.meta, *tasks.prepared(self.device))
        for k, p in self.meta.items():
            p.grad = step.grads[k]
        self.optimizer.step()
        return step.loss, step.acc

    def _transfer_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        pool, n = self.train_pool, self.config.batch_size
        classes = torch.randint(pool.num_classes, (n,), generator=self.generator)
        drawings = torch.randint(pool.drawings, (n,), generator=self.generator)
        chars, turns = (classes // pool.rotations).to(self.device), (classes % pool.rotations).to(self.device)
        x = prepare(rotate(pool.images[chars, drawings.to(self.device)], turns).unsqueeze(1))
        y = classes.to(self.device)
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), (logits.argmax(1) == y).float().mean()

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.config
        sums = torch.zeros(2, device=self.device)
        first_bad = torch.full((), -1, dtype=torch.long, device=self.device)  # kept on the device: no sync per step
        step_fn = self._meta_step if cfg.meta_learning else self._transfer_step
        for i in range(cfg.steps_per_epoch):
            step = epoch * cfg.steps_per_epoch + i + 1
            loss, acc = step_fn()
            sums[0] += loss
            sums[1] += acc
            first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss), step, first_bad)
            if self.on_step is not None:
                self.on_step(step, self.total_steps)
        bad = int(first_bad)
        if bad > 0 or not all(bool(torch.isfinite(p).all()) for p in self.meta.values()):
            where = f"epoch {epoch + 1}, step {bad}: the loss" if bad > 0 else f"epoch {epoch + 1}: the weights"
            raise TrainingDiverged(
                f"training diverged at {where} is not finite (meta_lr {cfg.meta_lr:g}, inner_lr {cfg.inner_lr:g})"
            )
        loss, acc = (sums / cfg.steps_per_epoch).tolist()
        return {"train_loss": loss, "train_acc": acc}

    def _val_metrics(self) -> dict[str, float | None]:
        val = self.validate()
        return {"val_acc": val.accuracy if val else None, "val_ci95": val.ci95 if val else None}

    def resume_state(self, epoch: int, row: dict) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """What continuing after `epoch` needs (core.resume): the network, Adam's state, the sampler."""
        return resume.pack(epoch, row, {"net": self.net.state_dict()}, self.optimizer, {"tasks": self.generator})

    def restore(self, state: resume.ResumeState, path) -> None:
        """Take up the state stored after an epoch; `epochs(start=state.epoch)` then goes on."""
        resume.restore(state, path, {"net": self.net.state_dict()}, self.optimizer, {"tasks": self.generator})

    def epochs(self, start: int = 0) -> Iterator[EpochResult]:
        """Yield epoch 0 (untrained), then one result per finished epoch; with `start` (after
        `restore`), the epochs after it."""
        if start == 0:
            t0 = time.perf_counter()
            yield EpochResult(0, {"epoch": 0, **self._val_metrics(), "seconds": time.perf_counter() - t0})
        for epoch in range(start, self.config.epochs):
            t0 = time.perf_counter()
            train = self._train_epoch(epoch)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            train_seconds = time.perf_counter() - t0
            yield EpochResult(
                epoch + 1,
                {
                    "epoch": epoch + 1,
                    **self._val_metrics(),
                    **train,
                    "seconds": time.perf_counter() - t0,
                    "steps_per_second": self.config.steps_per_epoch / train_seconds,
                },
            )
