"""Lifelong learning beside a peer: Avalanche's EWC and SI against this project's engine, same stream.

Install and run (Avalanche goes into a venv of its own that reuses the system's torch; the main
environment and requirements.txt are untouched; MNIST is read offline from EXPLORER_DATA_DIR):

    python -m venv --system-site-packages /tmp/peer-venv
    /tmp/peer-venv/bin/pip install -r bench/requirements-peer.txt
    EXPLORER_DATA_DIR=/work/shared/data nice -n 5 /tmp/peer-venv/bin/python -m bench.lifelong_peer --quick --no-write
    EXPLORER_DATA_DIR=/work/shared/data nice -n 5 /tmp/peer-venv/bin/python -m bench.lifelong_peer

    [--tasks 10 --epochs 1 --seeds 0 1 2 --threads 2 --runs NAME ... --no-write]

Verified with avalanche-lib 0.6.0 (the newest release on the registry) on torch 2.14.1, Python 3.11.7:
it runs with today's torch as it is, no shim. `pip freeze` of the system site-packages is the same
before and after the install (bench/requirements-peer.txt pins what the venv adds).

Both sides get the same data: the tasks come from `core.data.streams.load_stream("permuted", T, seed=s)`
and Avalanche is fed exactly the tensors `Task.batch("train" / "test", all positions)` gives
((n, 784) float in [0, 1], digit labels), one experience per task, all with task label 0 (one head
over the ten digits, as the project's permuted stream). Both sides train the same network (this
project's `lifelong_net("mlp", 400, 2)`: 784-400-400-10, ReLU) from the same initial weights
(`seed_everything(s)` right before building it, as the trainer does), with Adam (lr 0.001), batch
size 128, `--epochs` epochs per task, mean cross-entropy. Every accuracy is measured by the same
loop (argmax over the ten logits on every task's test split after every task; the project's own
trainer for its side, `accuracies` below for Avalanche's model) and every score by the same function
(`core.lifelong.metrics.scores`): average accuracy after the last task, forgetting (mean over the
tasks before the last of best-earlier minus final accuracy), BWT.

Adam starts afresh at every task on both sides: the project's trainer builds a new Adam per task;
Avalanche's strategies build one optimizer, so the `AdamReset` plugin below clears its state
(moments and step counts) in `before_training_exp`, and checks that each task took ceil(n / 128) x
epochs steps, starting from an empty state.

Making the penalties equal (the project: strength / 2 * sum_k sum_i Omega_k,i (theta_i - theta*_k,i)^2,
core/lifelong/methods.py):
- EWC: Avalanche's EWCPlugin adds `ewc_lambda * sum_k sum_i F_k,i (theta_i - theta*_k,i)^2` (no 1/2;
  avalanche/training/plugins/ewc.py, before_backward), so ewc_lambda = strength / 2. Mode
  "separate": one term per earlier task around its own final weights, as the project's `ewc`.
- SI: Avalanche's SynapticIntelligencePlugin adds `si_lambda / 2 * sum_i Omega_i (theta_i - theta*_i)^2`
  (compute_ewc_loss), so si_lambda = strength; its damping eps = the project's si_damping xi.

What still differs (measured, not patched, except in the rows marked as variants):
- EWC's Fisher. Avalanche's `compute_importances` runs over the task's whole training split in
  batches of train_mb_size (128) and squares each batch's *mean* gradient (true labels), then
  averages over batches: not the per-item empirical Fisher but roughly 1/128 of its noise part, so at
  an equal lambda its penalty is much weaker. The project measures on `importance_items` (1000) items,
  per item, with one label sampled from the model (its default "sampled") or the true label
  ("empirical"). Two extra rows make it like for like: the project with --fisher empirical, and
  Avalanche's own compute_importances called with batch size 1 on 1000 random training items of
  the task (`PerItemEWCPlugin`: then it is exactly the empirical Fisher).
- SI's Omega. Avalanche (update_ewc_data, as after_training_exp calls it: c = 1, clip_to = 0.001)
  sums -sum_t g dtheta / (Delta^2 + eps) over tasks and then clips Omega at *most* 0.001, with no floor
  at 0 (negative Omega, weights whose moves raised the loss, stay negative: the penalty pushes them
  away); g is the gradient of the whole loss, penalty included. The project floors each task's share
  at 0, does not clip from above, and uses the task loss's gradient alone.
- On a CPU, Avalanche 0.6.0's SI does nothing (a bug; `copied_weights` says why): its weight
  snapshots are views of the live weights, so Omega and the penalty stay 0 and it trains exactly as
  Naive. The row `avl-si-copy` copies the snapshots, as `.cpu()` does from a GPU: what it does on
  a GPU; `avl-si-copy-noclip` also lifts clip_to to inf.
- Batch order: each side shuffles with its own sampler (the project its own generator, Avalanche a
  torch DataLoader), so the runs are not step-for-step identical. The fine-tuning rows (the project's
  `finetune`, Avalanche's Naive) check that the two training loops agree when no method is involved.
- Wall time covers building the strategy / trainer, training, the importance measures and the
  evaluations after every task; not loading MNIST or materialising the tensors Avalanche is fed (the
  project's stream permutes each batch on the fly, inside its time).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

# Before torch loads its OpenMP runtime: on cores shared with other work, OpenMP's default spin-waiting
# made a 2-thread step of this MLP ~25x slower than a 1-thread one (300 ms vs 13 ms, measured here).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from torch import nn

from bench import report
from core.data.streams import TaskStream, load_stream
from core.device import seed_everything
from core.lifelong.config import DEFAULT_STRENGTH, LifelongConfig
from core.lifelong.metrics import run_matrix, scores
from core.lifelong.trainer import EVAL_BATCH, LifelongTrainer
from core.models.lifelong_nets import lifelong_net

warnings.filterwarnings("ignore", message="no QP solver found")  # qpsolvers, used by GEM only

PROJECT = "this project"
# name: (method, library, variant); the order of the table
RUNS = {
    "finetune": ("fine-tuning", PROJECT, "finetune"),
    "avl-naive": ("fine-tuning", "Avalanche", "Naive"),
    "ewc": ("EWC", PROJECT, "sampled Fisher, 1000 items (default)"),
    "ewc-empirical": ("EWC", PROJECT, "--fisher empirical, 1000 items"),
    "avl-ewc": ("EWC", "Avalanche", "EWC as shipped: squared batch-mean gradients, 128 per batch, whole split"),
    "avl-ewc-per-item": ("EWC", "Avalanche", "variant: its compute_importances at batch 1, 1000 items"),
    "si": ("SI", PROJECT, "default"),
    "avl-si": ("SI", "Avalanche", "SynapticIntelligence as shipped: on a CPU it does nothing (see notes)"),
    "avl-si-copy": (
        "SI",
        "Avalanche",
        "variant: extract_weights copies the weights; Omega clipped at 0.001 as shipped",
    ),
    "avl-si-copy-noclip": ("SI", "Avalanche", "variant: extract_weights copies the weights; clip_to inf"),
}


@dataclass
class Result:
    name: str
    seed: int
    R: np.ndarray  # (T, T): accuracy on task j after learning tasks 1..i+1
    baseline: np.ndarray  # (T,): the untrained network
    wall: float
    omega: dict[str, float] = field(default_factory=dict)  # the last term's importance, summarised
    load: float = field(default_factory=lambda: os.getloadavg()[0])  # the machine's 1-min load at the end

    def scores(self):
        return scores(self.R, self.baseline)


def omega_summary(named: dict[str, torch.Tensor]) -> dict[str, float]:
    flat = torch.cat([v.detach().flatten().float() for v in named.values()])
    return {"mean": float(flat.mean()), "max": float(flat.max()), "negative": float((flat < 0).float().mean())}


# ---- this project's side -------------------------------------------------------------------------


def project_run(name: str, cfg: LifelongConfig, stream: TaskStream) -> Result:
    t0 = time.perf_counter()
    trainer = LifelongTrainer(cfg, stream=stream)
    rows = [r.metrics for r in trainer.epochs()]
    wall = time.perf_counter() - t0
    m = run_matrix(rows, cfg.tasks, cfg.epochs)  # what core.lifelong.run.load_run builds from metrics.json
    terms = getattr(trainer.method, "terms", None)
    return Result(name, cfg.seed, m.R, m.baseline, wall, omega_summary(terms[-1][0]) if terms else {})


# ---- Avalanche's side ----------------------------------------------------------------------------


@torch.no_grad()
def accuracies(net: nn.Module, tests: list[tuple[torch.Tensor, torch.Tensor]]) -> np.ndarray:
    """Accuracy on every task's test split, as core.lifelong.trainer.LifelongTrainer.evaluate measures it."""
    was_training = net.training
    net.eval()
    out = []
    for x, y in tests:
        correct = sum(
            int((net(x[i : i + EVAL_BATCH]).argmax(1) == y[i : i + EVAL_BATCH]).sum())
            for i in range(0, len(x), EVAL_BATCH)
        )
        out.append(correct / len(x))
    net.train(was_training)
    return np.array(out)


def avalanche_plugins():
    """The plugin classes, defined once avalanche is importable (only in the peer venv)."""
    from avalanche.training.plugins import EWCPlugin, SupervisedPlugin, SynapticIntelligencePlugin

    class AdamReset(SupervisedPlugin):
        """Adam afresh at every task, as the project's trainer: clear the optimizer's state before
        each experience; count the steps and check each task started from an empty state."""

        def __init__(self):
            super().__init__()
            self.steps: list[int] = []
            self.fresh: list[bool] = []

        def before_training_exp(self, strategy, **kwargs):
            strategy.optimizer.state.clear()
            self.steps.append(0)

        def before_training_iteration(self, strategy, **kwargs):
            if self.steps[-1] == 0:
                self.fresh.append(len(strategy.optimizer.state) == 0)

        def after_training_iteration(self, strategy, **kwargs):
            self.steps[-1] += 1

    class PerItemEWCPlugin(EWCPlugin):
        """EWCPlugin with its own compute_importances run at batch size 1 on `items` random
        training items: the squared per-item gradient with the true label, the empirical Fisher."""

        def __init__(self, ewc_lambda: float, items: int, seed: int):
            super().__init__(ewc_lambda, mode="separate")
            self.items, self.seed, self.calls = items, seed, 0

        def compute_importances(self, model, criterion, optimizer, dataset, device, batch_size, num_workers=0):
            generator = torch.Generator().manual_seed(1_000 * self.seed + self.calls)
            self.calls += 1
            chosen = torch.randperm(len(dataset), generator=generator)[: self.items].tolist()
            return super().compute_importances(model, criterion, optimizer, dataset.subset(chosen), device, 1)

    class UnclippedSIPlugin(SynapticIntelligencePlugin):
        """SynapticIntelligencePlugin with after_training_exp's clip_to 0.001 lifted (c = 1, as there)."""

        def after_training_exp(self, strategy, **kwargs):
            SupervisedPlugin.after_training_exp(self, strategy, **kwargs)
            SynapticIntelligencePlugin.update_ewc_data(
                strategy.model, self.ewc_data, self.syn_data, math.inf, self.excluded_parameters, 1, eps=self.eps
            )

    return AdamReset, PerItemEWCPlugin, UnclippedSIPlugin


@contextmanager
def copied_weights():
    """Avalanche's SI with its weight snapshots copied. SynapticIntelligencePlugin.extract_weights
    stores `param.detach().cpu().flatten()`: on a GPU `.cpu()` copies, on a CPU it returns the
    parameter itself, so the flat "snapshot" is a view of the live weights. Then old and new theta
    are always equal (the path integral stays 0), the anchor moves with the weights (the penalty
    stays 0), and Omega is 0: SI is plain fine-tuning on a CPU. This adds the copy a GPU would make
    (the plugin calls the static method through its class, so it is patched there, for one run)."""
    from avalanche.training.plugins import SynapticIntelligencePlugin as SI

    shipped = SI.__dict__["extract_weights"]

    @torch.no_grad()
    def extract_weights(model, target, excluded_parameters):
        for name, param in SI.allowed_parameters(model, excluded_parameters):
            target[name].data = param.detach().cpu().flatten().clone()

    SI.extract_weights = staticmethod(extract_weights)
    try:
        yield
    finally:
        SI.extract_weights = shipped


def avalanche_benchmark(stream: TaskStream):
    """One experience per task, fed the project's own tensors; the test tensors for `accuracies`."""
    try:
        from avalanche.benchmarks import tensors_benchmark
    except ImportError:  # older releases
        from avalanche.benchmarks.generators import tensors_benchmark

    def everything(task, split):
        return task.batch(split, torch.arange(task.size(split)))

    train = [everything(t, "train") for t in stream.tasks]
    test = [everything(t, "test") for t in stream.tasks]
    bm = tensors_benchmark(train_tensors=train, test_tensors=test, task_labels=[0] * len(stream.tasks))
    return bm, test


def avalanche_run(name: str, cfg: LifelongConfig, bm, tests, strength: dict[str, float]) -> Result:
    from avalanche.training import EWC, Naive, SynapticIntelligence
    from avalanche.training.plugins import EvaluationPlugin

    AdamReset, PerItemEWCPlugin, UnclippedSIPlugin = avalanche_plugins()
    t0 = time.perf_counter()
    seed_everything(cfg.seed)
    net = lifelong_net(cfg.model, cfg.hidden, cfg.layers)
    reset = AdamReset()
    common = dict(
        model=net,
        optimizer=torch.optim.Adam(net.parameters(), lr=cfg.lr),
        criterion=nn.CrossEntropyLoss(),
        train_mb_size=cfg.batch_size,
        train_epochs=cfg.epochs,
        eval_mb_size=EVAL_BATCH,
        device="cpu",
        evaluator=EvaluationPlugin(loggers=[]),
    )
    ewc_lambda = strength["ewc"] / 2  # Avalanche's EWC penalty has no 1/2
    si_lambda = strength["si"]  # Avalanche's SI penalty has the 1/2
    regulariser = None
    if name == "avl-naive":
        strategy = Naive(plugins=[reset], **common)
    elif name == "avl-ewc":
        strategy = EWC(ewc_lambda=ewc_lambda, mode="separate", plugins=[reset], **common)
    elif name == "avl-ewc-per-item":
        regulariser = PerItemEWCPlugin(ewc_lambda, cfg.importance_items, cfg.seed)
        strategy = Naive(plugins=[reset, regulariser], **common)
    elif name in ("avl-si", "avl-si-copy"):
        strategy = SynapticIntelligence(si_lambda=si_lambda, eps=cfg.si_damping, plugins=[reset], **common)
    elif name == "avl-si-copy-noclip":
        regulariser = UnclippedSIPlugin(si_lambda, eps=cfg.si_damping)
        strategy = Naive(plugins=[reset, regulariser], **common)
    else:
        raise ValueError(name)
    baseline = accuracies(net, tests)
    rows = []
    with copied_weights() if name.startswith("avl-si-copy") else nullcontext():
        for experience in bm.train_stream:
            strategy.train(experience, eval_streams=[])
            rows.append(accuracies(net, tests))
    wall = time.perf_counter() - t0
    expected = [math.ceil(len(e.dataset) / cfg.batch_size) * cfg.epochs for e in bm.train_stream]
    if reset.steps != expected or not all(reset.fresh):
        raise RuntimeError(f"{name}: steps per task {reset.steps}, expected {expected}; Adam fresh {reset.fresh}")
    plugin = regulariser or next(
        (p for p in strategy.plugins if hasattr(p, "importances") or hasattr(p, "ewc_data")), None
    )
    omega = {}
    if plugin is not None and hasattr(plugin, "ewc_data"):
        omega = omega_summary({k: v.data for k, v in plugin.ewc_data[1].items()})
    elif plugin is not None:
        omega = omega_summary({k: v.data for k, v in plugin.importances[len(rows) - 1].items()})
    return Result(name, cfg.seed, np.array(rows), baseline, wall, omega)


# ---- the table -----------------------------------------------------------------------------------


def spread(values: list[float], digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table_rows(results: list[Result], version: str) -> list[dict[str, Any]]:
    rows = []
    for name, (method, library, variant) in RUNS.items():
        mine = [r for r in results if r.name == name]
        if not mine:
            continue
        s = [r.scores() for r in mine]
        final = np.mean([r.R[-1] for r in mine], axis=0)
        omega = [r.omega for r in mine if r.omega]
        rows.append(
            {
                "method": method,
                "library": library if library == PROJECT else f"{library} {version}",
                "run": f"`{name}`: {variant}",
                "avg acc": spread([x.average_accuracy for x in s]),
                "forgetting": spread([x.forgetting for x in s]) if s[0].forgetting is not None else "",
                "BWT": spread([x.bwt for x in s]) if s[0].bwt is not None else "",
                "wall s": spread([r.wall for r in mine], 0),
                "load": f"{statistics.mean(r.load for r in mine):.1f}",
                "final acc per task": " ".join(f"{v:.2f}" for v in final),
                "mean Ω (last)": f"{statistics.mean(o['mean'] for o in omega):.2e}" if omega else "",
                "max Ω (last)": f"{statistics.mean(o['max'] for o in omega):.2e}" if omega else "",
                "Ω < 0": f"{statistics.mean(o['negative'] for o in omega):.1%}" if omega else "",
            }
        )
    return rows


COLUMNS = [
    "method",
    "library",
    "run",
    "avg acc",
    "forgetting",
    "BWT",
    "wall s",
    "load",
    "final acc per task",
    "mean Ω (last)",
    "max Ω (last)",
    "Ω < 0",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=None, help="permuted tasks (default 10; 3 with --quick)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per task")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.001)
    for m in ("ewc", "si"):
        ap.add_argument(
            f"--{m}-strength",
            type=float,
            default=DEFAULT_STRENGTH[m],
            help=f"the project's {m} lambda, converted for Avalanche (default: the project's, {DEFAULT_STRENGTH[m]:g})",
        )
    ap.add_argument("--threads", type=int, default=2, help="torch threads, both sides")
    ap.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS), help="a subset of the rows")
    ap.add_argument("--quick", action="store_true", help="3 tasks: a fast check that everything runs")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    tasks = a.tasks if a.tasks is not None else (3 if a.quick else 10)
    torch.set_num_threads(a.threads)
    import avalanche

    version = avalanche.__version__
    results: list[Result] = []
    strength = {"ewc": a.ewc_strength, "si": a.si_strength}
    for seed in a.seeds:
        base = LifelongConfig(
            stream="permuted", tasks=tasks, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=seed
        )
        stream = load_stream("permuted", tasks, seed=seed, download=False)
        for name in a.runs:
            if RUNS[name][1] != PROJECT:
                continue
            method, fisher = {"finetune": ("finetune", "sampled"), "ewc-empirical": ("ewc", "empirical")}.get(
                name, (name, "sampled")
            )
            cfg = replace(base, method=method, fisher=fisher, strength=strength.get(method, -1.0))
            results.append(project_run(name, cfg, stream))
            print(name, seed, results[-1].scores().to_dict(), f"{results[-1].wall:.0f} s", flush=True)
        peers = [n for n in a.runs if RUNS[n][1] != PROJECT]
        if peers:
            bm, tests = avalanche_benchmark(stream)
            for name in peers:
                results.append(avalanche_run(name, base, bm, tests, strength))
                print(name, seed, results[-1].scores().to_dict(), f"{results[-1].wall:.0f} s", flush=True)
            del bm, tests
    by_seed0 = {r.name: r for r in results if r.seed == a.seeds[0]}
    if "finetune" in by_seed0 and "avl-naive" in by_seed0:
        same_start = np.array_equal(by_seed0["finetune"].baseline, by_seed0["avl-naive"].baseline)
    else:
        same_start = None
    table = report.markdown_table(table_rows(results, version), COLUMNS)
    ewc, si = strength["ewc"], strength["si"]
    defaults = ewc == DEFAULT_STRENGTH["ewc"] and si == DEFAULT_STRENGTH["si"]
    cfg = LifelongConfig(stream="permuted", tasks=tasks)
    notes = (
        f"Permuted MNIST, {tasks} tasks (task 1 the identity), stream seed = run seed; seeds {a.seeds} "
        f"(cells: mean ± sd over seeds where more than one). MLP 784-{cfg.hidden}-{cfg.hidden}-10, ReLU, the "
        f"project's `lifelong_net` on both sides from the same initial weights"
        + (" (untrained accuracies identical on both sides: checked)" if same_start else "")
        + f"; Adam lr {a.lr}, reset at every task (Avalanche: a plugin clears the optimizer state before each "
        f"experience; the step count per task is checked); batch {a.batch_size}, {a.epochs} epoch(s) per task; "
        f"torch threads {a.threads}, CPU. Avalanche {version} (avalanche-lib, its own venv: "
        "`/tmp/peer-venv/bin/python -m bench.lifelong_peer`, bench/requirements-peer.txt), fed exactly the "
        "project's `Task.batch` tensors, one experience per task, task label 0 (one head). Both sides' "
        "accuracies come from the same evaluation loop and their scores from `core.lifelong.metrics.scores`. "
        f"Penalties made equal: the project's EWC strength {ewc:g}"
        + (" (its default)" if ewc == DEFAULT_STRENGTH["ewc"] else "")
        + f" is Avalanche's "
        f"ewc_lambda {ewc / 2:g} (Avalanche's EWC penalty is lambda * sum F (theta - theta*)^2, the project's "
        f"lambda/2 * ...), mode 'separate' (one term per task, as the project's `ewc`); the project's SI "
        f"strength {si:g} is Avalanche's si_lambda {si:g} (both have the 1/2), eps = si_damping {cfg.si_damping:g}. "
        "What remains different: Avalanche's EWC Fisher is the squared *batch-mean* gradient (true labels, "
        "batches of 128, the whole training split), far smaller than a per-item Fisher; the project's is "
        f"per item on {cfg.importance_items} items, with a sampled label (default) or the true label "
        "(`--fisher empirical`); the `avl-ewc-per-item` row calls Avalanche's own compute_importances at batch "
        f"size 1 on {cfg.importance_items} random items, which is the empirical Fisher. Avalanche's SI clips "
        "Omega at most 0.001, keeps negative Omega (no floor at 0), and takes the path integral with the "
        "gradient of the whole loss (penalty included); the project floors each task's share at 0, has no upper "
        "clip, and uses the task loss's gradient. And on a CPU Avalanche's SI does nothing at all: its "
        "extract_weights keeps `param.detach().cpu().flatten()`, which on a CPU is a view of the live weights "
        "(`.cpu()` copies only from a GPU), so old and new weights, and the anchor, always equal the current "
        "weights: the path integral, Omega and the penalty are all 0 and `avl-si` equals `avl-naive` exactly. "
        "`avl-si-copy` adds the missing `.clone()` (patched into the plugin for that run only), "
        "`avl-si-copy-noclip` also lifts the clip. 'Ω (last)': the importance "
        "of the last task's term (EWC) or the consolidated Omega (SI), over all parameters. Batch orders "
        "differ (each side's own shuffling). Wall time: strategy or trainer, training, importance, the "
        "evaluations after every task; not loading MNIST nor materialising Avalanche's tensors. The cores are "
        "shared with other work: 'load' is the machine's 1-minute load average when the run ended (2 cores), "
        "so wall times compare only roughly; OMP_WAIT_POLICY=PASSIVE (set by the bench) keeps 2 threads "
        "from spin-waiting on busy cores."
    )
    report.publish(
        f"Lifelong learning beside Avalanche: EWC and SI on permuted MNIST ({tasks} tasks, "
        f"EWC λ {ewc:g}, SI λ {si:g}{', the defaults' if defaults else ''})",
        table,
        notes,
        write=not a.no_write,
    )


if __name__ == "__main__":
    main()
