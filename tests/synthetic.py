"""Tiny generated digit-like domains for fast trainer tests (no files, no downloads).

Class c is a bright square at one of ten positions. The target domain draws the same squares
dark on a coloured, noisy background, so the two domains differ the way MNIST and MNIST-M do:
same shapes, different appearance.
"""

from pathlib import Path

import torch
from PIL import Image

from core.data import Domain

# A DANN run over the synthetic pair that trains in about a second on a CPU.
TINY_DANN = dict(
    source="synthetic-source",
    target="synthetic-target",
    epochs=2,
    steps_per_epoch=6,
    batch_size=32,
    snapshot_size=50,
    snapshot_dims=16,
)


def _squares(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n = len(labels)
    ink = torch.zeros(n, 1, 28, 28)
    for i, c in enumerate(labels.tolist()):
        r, col = 3 + (c // 5) * 12, 2 + (c % 5) * 5
        dr, dc = torch.randint(-1, 2, (2,), generator=generator).tolist()
        ink[i, 0, r + dr : r + dr + 8, col + dc : col + dc + 4] = 1.0
    return ink


def make_domain(kind: str, n: int, seed: int, *, labelled: bool = True) -> Domain:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    ink = _squares(labels, g)
    if kind == "source":
        images = ink.repeat(1, 3, 1, 1) * 255
    else:
        colour = torch.rand(n, 3, 1, 1, generator=g) * 155 + 100
        noise = torch.rand(n, 3, 28, 28, generator=g) * 60
        images = (colour + noise) * (1 - ink)
    images = images.clamp(0, 255).to(torch.uint8)
    return Domain(
        spec=f"synthetic-{kind}",
        name=f"synthetic {kind}",
        train_images=images,
        train_labels=labels if labelled else None,
        eval_images=images.clone(),
        eval_labels=labels.clone(),
        classes=tuple(str(i) for i in range(10)),
        transductive=True,
    )


def make_pair(n: int = 200, *, target_labels: bool = True) -> tuple[Domain, Domain]:
    return make_domain("source", n, 1), make_domain("target", n, 2, labelled=target_labels)


def write_image_folders(root: Path, n: int = 200) -> tuple[Path, Path]:
    """The pair as labelled image folders (root/source/<class>/<i>.png, root/target/...), for the
    app's folder:PATH domains."""
    folders = []
    for kind, seed in (("source", 1), ("target", 2)):
        domain = make_domain(kind, n, seed)
        for i, (image, label) in enumerate(zip(domain.train_images, domain.train_labels.tolist())):
            (root / kind / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / kind / str(label) / f"{i}.png")
        folders.append(root / kind)
    return folders[0], folders[1]
