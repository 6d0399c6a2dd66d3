"""Trainer throughput against a straightforward loop in the course's style, same model and device.

The reference is how the course's sample code trains DANN: a DataLoader over PIL images with
per-image transforms, the domain classifier trained first on detached features, then the
extractor and label classifier against it, each part with its own optimizer. The trainer keeps the
datasets as uint8 tensors on the device, gathers batches by index and takes one optimizer step
through the gradient reversal layer.

A third row is the compute ceiling: the floating-point work of one training step per image
(counted by torch's FlopCounterMode: forward and backward of both domains' batches) at the speed
of a large fp32 matrix product on the same device, the fastest this hardware runs any kernel. No
loop over this network can beat it, so it bounds the ratio any trainer can reach here.

    python -m bench.dann_throughput --steps 150 [--source mnist --target mnistm] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

from bench import report
from core.dann.config import DANNConfig
from core.dann.trainer import DANNTrainer
from core.data import load_domain
from core.device import pick_device
from core.models import DigitDANN


class PILDataset(Dataset):
    """Items as PIL images through a per-image transform, as torchvision datasets hand them out."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, transform):
        self.images, self.labels, self.transform = images, labels, transform
        self.to_pil = transforms.ToPILImage()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = self.transform(self.to_pil(self.images[i]))
        return x, (int(self.labels[i]) if self.labels is not None else 0)


def reference_loop(source, target, steps: int, batch_size: int, device: torch.device) -> float:
    """Images (source + target) per second of the course-style loop over `steps` steps."""
    torch.manual_seed(0)
    tf = transforms.Compose([transforms.Resize(28), transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
    src = DataLoader(
        PILDataset(source.train_images, source.train_labels, tf), batch_size=batch_size, shuffle=True, drop_last=True
    )
    tgt = DataLoader(PILDataset(target.train_images, None, tf), batch_size=batch_size, shuffle=True, drop_last=True)
    net = DigitDANN().to(device)
    opt_f = torch.optim.SGD(net.features.parameters(), lr=0.01, momentum=0.9)
    opt_c = torch.optim.SGD(net.label_head.parameters(), lr=0.01, momentum=0.9)
    opt_d = torch.optim.SGD(net.domain_head.parameters(), lr=0.01, momentum=0.9)
    lamb, done, images, t0 = 0.1, 0, 0, 0.0
    while done < steps + 5:
        for (xs, ys), (xt, _) in zip(src, tgt):
            if done == 5:  # the first steps warm up allocators and kernels
                t0, images = time.perf_counter(), 0
            xs, ys, xt = xs.to(device), ys.to(device), xt.to(device)
            mixed = torch.cat([xs, xt])
            domain_y = torch.cat([torch.ones(len(xs)), torch.zeros(len(xt))]).to(device)
            feats = net.features(mixed)
            d_loss = F.binary_cross_entropy_with_logits(net.domain_head(feats.detach()).squeeze(1), domain_y)
            d_loss.backward()
            opt_d.step()
            c_loss = F.cross_entropy(net.label_head(feats[: len(xs)]), ys)
            adv = F.binary_cross_entropy_with_logits(net.domain_head(feats).squeeze(1), domain_y)
            (c_loss - lamb * adv).backward()
            opt_f.step()
            opt_c.step()
            for o in (opt_d, opt_f, opt_c):
                o.zero_grad()
            done += 1
            images += len(xs) + len(xt)
            if done == steps + 5:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return images / (time.perf_counter() - t0)


def trainer_loop(source, target, steps: int, batch_size: int, device: torch.device) -> float:
    config = DANNConfig(
        source=source.spec,
        target=target.spec,
        epochs=1,
        steps_per_epoch=steps,
        batch_size=batch_size,
        snapshot_size=100,
    )
    trainer = DANNTrainer(config, device=device, domains=(source, target))
    trainer._train_epoch(0)  # warm-up pass, as the reference skips its first steps
    results = list(trainer.epochs())
    return float(results[-1].metrics["images_per_second"])


def flops_per_image(batch_size: int, device: torch.device) -> float:
    """FLOPs of one DANN training step (both domains, forward and backward) per image."""
    net = DigitDANN().to(device)
    xs, xt = (torch.randn(batch_size, 3, 28, 28, device=device) for _ in range(2))
    ys = torch.randint(0, 10, (batch_size,), device=device)
    domain_y = torch.cat([torch.zeros(batch_size), torch.ones(batch_size)]).to(device)
    with FlopCounterMode(display=False) as counter:
        feats = torch.cat([net.features(xs), net.features(xt)])
        loss = F.cross_entropy(net.classify(feats[:batch_size]), ys)
        loss = loss + F.binary_cross_entropy_with_logits(net.discriminate(feats, 0.5), domain_y)
        loss.backward()
    return counter.get_total_flops() / (2 * batch_size)


def matmul_flops_per_second(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of an n x n fp32 matrix product: the peak that this device reaches in practice."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default="mnist")
    ap.add_argument("--target", default="mnistm")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch-size", type=int, default=DANNConfig().batch_size, help="per domain, for both loops")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--no-write", action="store_true", help="print only; do not append to BENCHMARKS.md")
    a = ap.parse_args()
    device = pick_device(a.device)
    spec = DigitDANN.input_spec
    source, target = load_domain(a.source, spec), load_domain(a.target, spec)
    ref = reference_loop(source, target, a.steps, a.batch_size, device)
    ours = trainer_loop(source, target, a.steps, a.batch_size, device)
    per_image, peak = flops_per_image(a.batch_size, device), matmul_flops_per_second(device)
    ceiling = peak / per_image
    rows = [
        {
            "loop": "course-style reference (DataLoader, per-image transforms, 3 optimizers)",
            "images/s": f"{ref:,.0f}",
            "ratio": "1.0x",
        },
        {
            "loop": "core.dann trainer (tensors on device, index batches, GRL)",
            "images/s": f"{ours:,.0f}",
            "ratio": f"{ours / ref:.1f}x",
        },
        {
            "loop": f"compute ceiling: {per_image / 1e6:.1f} MFLOP per image at the fp32 matmul peak of "
            f"{peak / 1e9:,.0f} GFLOP/s",
            "images/s": f"{ceiling:,.0f}",
            "ratio": f"{ceiling / ref:.1f}x",
        },
    ]
    table = report.markdown_table(rows, ["loop", "images/s", "ratio"])
    title = f"DANN trainer throughput, {a.source} -> {a.target}, batch {a.batch_size} per domain, {device.type}"
    notes = (
        f"{a.steps} timed steps each, same DigitDANN network, images counted from both domains; "
        f"torch threads: {torch.get_num_threads()}. The trainer runs at {ours * per_image / peak:.0%} of "
        "the matmul peak."
    )
    report.publish(title, table, notes, write=not a.no_write)


if __name__ == "__main__":
    main()
