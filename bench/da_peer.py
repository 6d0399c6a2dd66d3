"""This project's DANN trainer beside pytorch-adapt's DANN, on MNIST -> MNIST-M, with the same
network, batch size and wall-clock budget, in one run: target accuracy against training time.

pytorch-adapt is installed for this bench only, into a venv of its own that reuses the system's
torch (bench/requirements-adapt.txt says how). Run it from that venv:

    /tmp/adapt-venv/bin/python -m bench.da_peer                       # 180 s of training each
    /tmp/adapt-venv/bin/python -m bench.da_peer --budget 30 --no-write   # a quick look

Both sides train the DANN paper's digit network (core.models.dann_nets.DigitDANN: the same
architecture, initialised from the same seed) at 32 source and 32 target images per step, on the
same uint8 images scaled to [-1, 1], on the same threads, one after the other:

- pytorch-adapt: `pytorch_adapt.hooks.DANNHook` as its README uses it (G = the feature
  extractor, C = the label head, D = the domain head; its gradient reversal at weight 1, its
  mean of the class and domain losses), with the DANN paper's SGD (lr 0.01, momentum 0.9) and
  no schedule or augmentation, since the library leaves those to the user. Evaluated in eval
  mode, the usual way.
- this project: `python -m core dann` with its defaults (the lambda ramp to 0.3 and lr annealing
  over the run, invert augmentation, target entropy, per-domain normalisation at evaluation),
  its step count set so that its training takes the budget: the schedules follow training
  progress, so they need the run's length up front. The step time is measured on a 100-step run
  first.

The clock runs while the networks train and stops while they are evaluated: both are scored on
the whole MNIST-M test split (9,001 images) at the same six points of the budget.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from torch import nn

from bench import report
from core.dann.config import DANNConfig
from core.dann.trainer import EVAL_BATCH, DANNTrainer
from core.data.domains import load_domain
from core.device import seed_everything
from core.models.dann_nets import build_model

MARKS = 6  # evaluations over the budget


class _Logit(nn.Module):
    """The domain head with its (N, 1) logit flattened to (N,), as pytorch-adapt's BCE expects."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, x):
        return self.head(x).squeeze(1)


@torch.no_grad()
def target_accuracy(net, images: torch.Tensor, labels: torch.Tensor) -> float:
    correct = 0
    for i in range(0, len(images), EVAL_BATCH):
        x = net.prepare(images[i : i + EVAL_BATCH])
        correct += int((net.label_head(net.features(x)).argmax(1) == labels[i : i + EVAL_BATCH]).sum())
    return correct / len(images)


def peer_curve(source, target, budget: float, batch: int, seed: int) -> list[dict]:
    """pytorch-adapt's DANNHook for `budget` seconds of training; accuracy at MARKS points."""
    from pytorch_adapt.hooks import DANNHook

    seed_everything(seed)
    net = build_model("digit", num_classes=10)
    models = {"G": net.features, "C": net.label_head, "D": _Logit(net.domain_head)}
    opts = [torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for m in models.values()]
    hook = DANNHook(opts)
    generator = torch.Generator().manual_seed(seed)
    n_src, n_tgt = len(source.train_images), len(target.train_images)
    src_domain, tgt_domain = torch.zeros(batch), torch.ones(batch)
    marks = [budget * (k + 1) / MARKS for k in range(MARKS)]
    curve, trained, steps = [], 0.0, 0

    def batch_data():
        si = torch.randint(n_src, (batch,), generator=generator)
        ti = torch.randint(n_tgt, (batch,), generator=generator)
        return {
            "src_imgs": net.prepare(source.train_images[si]),
            "src_labels": source.train_labels[si],
            "target_imgs": net.prepare(target.train_images[ti]),
            "src_domain": src_domain,
            "target_domain": tgt_domain,
        }

    # warm-up, as the other side's timing has: one step on a copy, so the run itself starts afresh
    spare = {k: copy.deepcopy(m) for k, m in models.items()}
    DANNHook([torch.optim.SGD(m.parameters(), lr=0.01) for m in spare.values()])({**spare, **batch_data()})
    while marks:
        for m in models.values():
            m.train()
        t0 = time.perf_counter()
        while trained + (time.perf_counter() - t0) < marks[0]:
            hook({**models, **batch_data()})
            steps += 1
        trained += time.perf_counter() - t0
        marks.pop(0)
        for m in models.values():
            m.eval()
        acc = target_accuracy(net, target.eval_images, target.eval_labels)
        curve.append({"seconds": trained, "steps": steps, "target_acc": acc})
        print(f"pytorch-adapt DANN: {trained:6.1f} s, {steps} steps, target {acc:.4f}", flush=True)
    return curve


def ours_curve(source, target, budget: float, batch: int, seed: int) -> list[dict]:
    """This project's trainer, its defaults, sized to `budget` seconds of training."""
    probe = DANNTrainer(
        DANNConfig(batch_size=batch, seed=seed, epochs=1, steps_per_epoch=100), domains=(source, target)
    )
    ips = list(probe.epochs())[-1].metrics["images_per_second"]
    per_step = 2 * batch / ips
    steps_per_epoch = max(1, int(budget / per_step / MARKS))
    config = DANNConfig(batch_size=batch, seed=seed, epochs=MARKS, steps_per_epoch=steps_per_epoch)
    trainer = DANNTrainer(config, domains=(source, target))
    curve, trained = [], 0.0
    for result in trainer.epochs():
        if result.epoch == 0:
            continue
        m = result.metrics
        trained += 2 * steps_per_epoch * batch / m["images_per_second"]
        curve.append({"seconds": trained, "steps": result.epoch * steps_per_epoch, "target_acc": m["target_acc"]})
        print(f"this project's DANN: {trained:6.1f} s, {curve[-1]['steps']} steps, target {m['target_acc']:.4f}")
    return curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=180.0, help="seconds of training for each side")
    ap.add_argument("--batch-size", type=int, default=32, help="images per domain per step")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    import pytorch_adapt

    spec = build_model("digit", num_classes=10).input_spec
    source, target = load_domain("mnist", spec), load_domain("mnistm", spec)
    curves = {
        f"pytorch-adapt {pytorch_adapt.__version__} DANNHook": peer_curve(
            source, target, a.budget, a.batch_size, a.seed
        ),
        "this project (python -m core dann, defaults)": ours_curve(source, target, a.budget, a.batch_size, a.seed),
    }
    # each point is reached within a step of its mark; the table shows the time it was taken at
    columns = ["trainer", "steps in the budget", "steps / s"]
    marks = [f"~{a.budget * (k + 1) / MARKS:.0f} s" for k in range(MARKS)]
    table_rows = []
    for name, curve in curves.items():
        steps, seconds = curve[-1]["steps"], curve[-1]["seconds"]
        row = {"trainer": name, "steps in the budget": steps, "steps / s": f"{steps / seconds:.1f}"}
        row |= {m: f"{p['target_acc']:.3f} ({p['seconds']:.0f} s)" for m, p in zip(marks, curve)}
        table_rows.append(row)
    table = report.markdown_table(table_rows, columns + marks)
    notes = (
        f"MNIST -> MNIST-M, target accuracy on the MNIST-M test split (9,001 images) after each sixth of "
        f"{a.budget:.0f} s of training (evaluation not counted), batch {a.batch_size} per domain, seed {a.seed}, "
        f"{torch.get_num_threads()} torch threads, one side after the other. Same network (the DANN paper's digit "
        "net, same initialisation). pytorch-adapt: DANNHook with gradient reversal weight 1 and SGD lr 0.01, "
        "momentum 0.9, no schedule or augmentation (the library leaves them to the user); this project: its "
        "defaults, step count sized to the budget from a 100-step timing."
    )
    report.publish(
        "DANN beside pytorch-adapt, MNIST -> MNIST-M, the same wall-clock budget", table, notes, write=not a.no_write
    )


if __name__ == "__main__":
    main()
