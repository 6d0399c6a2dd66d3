"""The DANN run configuration: one frozen dataclass whose hash names the run."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from core.dann.schedules import LambdaSchedule, LrSchedule
from core.data.specs import FOLDER_PREFIX, canonical_spec
from core.errors import UserError
from core.options import check_types, config_dict, config_from_dict, option

# What each variant trains. Target labels are read by "target_only" alone (the upper reference);
# every other variant sees target images without labels.
VARIANTS = {
    "source_only": "train on labelled source only (lambda = 0): the lower reference",
    "dann": "domain-adversarial training with the lambda schedule",
    "dann_pseudo": "DANN plus self-training on confident pseudo-labels from an EMA teacher",
    "dan": "DAN: multi-kernel MMD between source and target features, times the lambda schedule",
    "cdan": "CDAN: the domain classifier sees features times predictions, behind gradient reversal",
    "cdan_e": "CDAN+E: CDAN with each item's domain loss weighted by its prediction's certainty",
    "target_only": "train on labelled target: the upper reference (needs target labels)",
}

OPTIMIZERS = ("sgd", "adam")

MMD_ESTIMATES = {  # DAN's (core.dann.alignment)
    "quadratic": "the unbiased estimate over all pairs of the batch (O(n^2) kernel values)",
    "linear": "the unbiased linear-time estimate over consecutive pairs (n/2 terms; DAN's, noisier)",
}

AUGMENTS = {
    "none": "the labelled images as they are",
    "invert": "each colour channel of each labelled image inverted with probability 1/2",
}

# The variants the lambda schedule acts in: the weight of the domain-adversarial loss (dann,
# dann_pseudo, cdan, cdan_e) or of the MMD (dan).
ADAPTING = ("dann", "dann_pseudo", "dan", "cdan", "cdan_e")
CONDITIONAL = ("cdan", "cdan_e")  # the domain classifier sees the multilinear map (core.dann.alignment)


@dataclass(frozen=True)
class Preset:
    """Settings to start from (flat keys, core.options), and why they are what they are."""

    summary: str
    settings: dict[str, Any]
    why: str


PRESETS = {
    "lecture": Preset(
        summary="MNIST -> MNIST-M in 2 short epochs of 900 steps at twice the learning rate, with the paper's "
        "full lambda ramp to 1, target entropy at weight 1 and 500 map points per domain: a run to retrain while "
        "talking (about 40 s with its maps on the 2-core machine measured: BENCHMARKS.md, bench/da_lecture.py)",
        settings={
            "source": "mnist",
            "target": "mnistm",
            "variant": "dann",
            "epochs": 2,
            "steps_per_epoch": 900,
            "lr": 0.02,
            "schedule": "dann",
            "lambda_value": 1.0,
            "gamma": 10.0,
            "target_entropy": 1.0,
            "snapshot_size": 500,
        },
        why=(
            "The defaults' recipe (the paper's lambda ramp and lr annealing, invert augmentation, target "
            "entropy) in 1,800 steps instead of 11,250: the ramp and the annealing follow training progress p, "
            "so they complete in a short run as in a long one. In so few steps the adversarial and entropy "
            "terms have to work harder: the ramp ends at the paper's 1 instead of 0.3 (MNIST-M's 9,001 target "
            "images do not suffer from it the way USPS's 2,007 do) and the entropy weight is 1 instead of 0.3. "
            "Over seeds 0-2 on 2 CPU cores: 0.888 (this recipe) against 0.882 with the ramp to 1 alone and "
            "0.871 with neither (the preset before); 2 x 1,200 steps with the defaults' weights reached "
            "0.887 but took 46-58 s. "
            "The doubled initial learning rate recovers most of what the fewer steps lose; 0.03 lost more "
            "(0.866, one seed). Two epochs give the map a frame half-way. 500 snapshot items per domain halve "
            "the t-SNE frames' time."
        ),
    ),
}

# Flag groups of the command line's help.
_DOMAINS = "domains and variant"
_OPTIMISATION = "optimisation"
_PSEUDO = "pseudo-labels (variant dann_pseudo)"
_SNAPSHOTS = "snapshots"

# Bounds of the sizes, so that a typo cannot ask for memory no machine has (the epoch's index
# tensors hold steps_per_epoch x batch_size entries per domain, at most MAX_EPOCH_IMAGES).
MAX_EPOCHS = 10_000
MAX_STEPS_PER_EPOCH = 100_000
MAX_BATCH = 4096
MAX_SNAPSHOT = 20_000
MAX_EPOCH_IMAGES = 10_000_000  # 80 MB of int64 indices per domain

# Bumped whenever training changes in a way that makes stored runs of an equal config differ.
ENGINE_VERSION = 1


@dataclass(frozen=True)
class DANNConfig:
    """Everything that determines a DANN run's numbers (the device does not: see README).

    Each field is an `option` (core.options): its flag, help and group on the command line, and
    the Train view's form key, come from here."""

    source: str = option("mnist", "labelled source domain: mnist | usps | mnistm | folder:PATH", group=_DOMAINS)
    target: str = option("mnistm", "target domain (labels used for evaluation only)", group=_DOMAINS)
    variant: str = option("dann", choices=VARIANTS, group=_DOMAINS)
    # lambda(p): the DANN paper's ramp 2/(1+exp(-10p)) - 1, scaled to end at 0.3 instead of the
    # paper's 1. At full strength the adversarial term pulls a small target away from its classes
    # (MNIST -> USPS, 2,007 target images: 0.843 at 1, one seed; 0.935 +- 0.021 at 0.3, 6 seeds),
    # while MNIST -> MNIST-M loses nothing (0.916 +- 0.007 at 1, 0.915 +- 0.004 at 0.3, 3 seeds).
    schedule: LambdaSchedule = option(
        default_factory=lambda: LambdaSchedule(value=0.3),
        used_by=ADAPTING,
        group="lambda schedule: lambda(p) for training progress p in [0, 1]",
    )
    lr: LrSchedule = option(
        default_factory=LrSchedule, group=_OPTIMISATION
    )  # mu0 / (1 + alpha p)^beta, as in the paper
    model: str = option(
        "",
        "network: digit (DANN paper, 3x28x28) or course (HW net, 1x32x32); empty picks digit for "
        "digit domains and course for folders",
        choices=("", "digit", "course"),
        group=_DOMAINS,
    )
    epochs: int = option(
        6, "number of epochs", group=_OPTIMISATION
    )  # about 4 minutes for MNIST -> MNIST-M on 2 CPU cores
    steps_per_epoch: int = option(
        0, "optimizer steps per epoch; 0: one pass over the larger training set", group=_OPTIMISATION
    )
    # Per domain: each step sees this many source and target images. Small batches cost little
    # more per image on a CPU (about 20% at 32 vs 128) and give four times the updates, which
    # DANN needs: MNIST -> MNIST-M reached 0.771 in 10 epochs at 32, against 0.623 at 128
    # (BENCHMARKS.md, recipe trials).
    batch_size: int = option(32, "images per domain per step", group=_OPTIMISATION)
    optimizer: str = option("sgd", "optimizer (SGD is the paper's)", choices=OPTIMIZERS, group=_OPTIMISATION)
    momentum: float = option(0.9, "SGD momentum (the paper's), or Adam's beta1", group=_OPTIMISATION)
    weight_decay: float = option(0.0, "SGD weight decay", group=_OPTIMISATION)
    seed: int = option(0, "seed for initialisation and batch order", group=_OPTIMISATION)
    source_edges: bool = option(
        False, "apply the course's source transform (grayscale, then Canny edges)", group=_DOMAINS
    )
    # Augmentation of the labelled batches on the device: "none"; "invert": each colour channel
    # of each image is inverted with probability 1/2, so the labelled digits come in every
    # polarity and in colours (a white digit on black becomes, say, red on cyan). MNIST -> MNIST-M
    # (one seed, 6 epochs): DANN 0.727 -> 0.889 with it; source only 0.565 -> 0.757 (BENCHMARKS.md).
    augment: str = option(
        "invert", "augmentation of the labelled images", choices=AUGMENTS, group=_DOMAINS, absent="none"
    )
    pseudo_threshold: float = option(
        0.95, "teacher confidence needed to use a target pseudo-label", used_by=("dann_pseudo",), group=_PSEUDO
    )
    # dann_pseudo: EMA decay of the teacher, per step. The course's 0.9 per step makes the teacher
    # a copy of the student that confirms its own mistakes (MNIST -> MNIST-M collapsed to 0.34 at
    # epoch 5 in our trial); 0.99 averages over about 100 steps, as mean-teacher methods do.
    teacher_decay: float = option(0.99, "EMA decay of the teacher per step", used_by=("dann_pseudo",), group=_PSEUDO)
    pseudo_weight: float = option(1.0, "weight of the pseudo-label loss", used_by=("dann_pseudo",), group=_PSEUDO)
    # dann/dann_pseudo: weight of the mean prediction entropy on target batches (conditional
    # entropy minimisation, as in VADA), scaled by lambda(p) so it grows as the domains align.
    # It pushes target features away from class boundaries, which gradient reversal alone does not.
    # MNIST -> MNIST-M with invert augmentation (one seed): 0.889 without it, 0.909 at 0.3.
    target_entropy: float = option(
        0.3,
        "weight of target prediction entropy, times lambda(p); 0: off",
        used_by=ADAPTING,
        absent=0.0,
        group=_OPTIMISATION,
    )
    mmd_estimate: str = option(
        "quadratic", "dan: the MMD estimate", choices=MMD_ESTIMATES, used_by=("dan",), group=_OPTIMISATION
    )
    # Label smoothing of the labelled images' class loss (Szegedy et al. 2016): the target of each
    # labelled image puts this much probability evenly on every class. Left out of stored configs
    # at 0, so runs from before the setting existed keep their ids.
    label_smoothing: float = option(
        0.0, "label smoothing of the class loss on labelled images; 0: off", absent=0.0, group=_OPTIMISATION
    )
    snapshot_size: int = option(
        1000, "items per domain in the fixed feature sample stored every epoch", group=_SNAPSHOTS
    )
    snapshot_dims: int = option(64, "principal components kept per snapshot (0: all)", group=_SNAPSHOTS)

    def __post_init__(self) -> None:
        check_types(self)
        for side in ("source", "target"):
            object.__setattr__(self, side, canonical_spec(getattr(self, side)))
        if self.variant not in VARIANTS:
            raise UserError(f"unknown variant {self.variant!r}; expected one of {', '.join(VARIANTS)}")
        if not self.model:
            folders = self.source.startswith(FOLDER_PREFIX) or self.target.startswith(FOLDER_PREFIX)
            object.__setattr__(self, "model", "course" if folders else "digit")
        if self.variant == "dan" and self.batch_size < 2:
            raise UserError("dan compares batches of at least 2 images per domain: batch_size must be 2 or more")
        if self.mmd_estimate not in MMD_ESTIMATES:
            raise UserError(f"unknown MMD estimate {self.mmd_estimate!r}; expected one of {', '.join(MMD_ESTIMATES)}")
        if self.augment not in AUGMENTS:
            raise UserError(f"unknown augmentation {self.augment!r}; expected one of {', '.join(map(repr, AUGMENTS))}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        if self.model not in ("digit", "course"):
            raise UserError(f"unknown model {self.model!r}; expected 'digit' or 'course'")
        for name, most in (("epochs", MAX_EPOCHS), ("batch_size", MAX_BATCH), ("snapshot_size", MAX_SNAPSHOT)):
            if not 1 <= getattr(self, name) <= most:
                raise UserError(f"{name} must be from 1 to {most:,}, got {getattr(self, name)}")
        if not 0 <= self.steps_per_epoch <= MAX_STEPS_PER_EPOCH:
            raise UserError(
                f"steps_per_epoch must be 0 (one pass) or up to {MAX_STEPS_PER_EPOCH:,}, got {self.steps_per_epoch}"
            )
        if self.steps_per_epoch * self.batch_size > MAX_EPOCH_IMAGES:
            raise UserError(
                f"steps_per_epoch x batch_size is {self.steps_per_epoch * self.batch_size:,} images per epoch; "
                f"keep it at most {MAX_EPOCH_IMAGES:,}"
            )
        if not 0 <= self.seed < 2**63:
            raise UserError(f"seed must be from 0 to 2**63 - 1, got {self.seed}")
        if not 0.0 <= self.momentum < 1.0:
            raise UserError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise UserError(f"weight_decay must be 0 or positive, got {self.weight_decay}")
        if self.pseudo_weight < 0:
            raise UserError(f"pseudo_weight must be 0 or positive, got {self.pseudo_weight}")
        if self.snapshot_dims < 0:
            raise UserError(f"snapshot_dims must be 0 (all) or positive, got {self.snapshot_dims}")
        if not 0.0 < self.pseudo_threshold <= 1.0:
            raise UserError(f"pseudo_threshold must be in (0, 1], got {self.pseudo_threshold}")
        if self.target_entropy < 0:
            raise UserError(f"target_entropy must be 0 (off) or positive, got {self.target_entropy}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UserError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 <= self.teacher_decay < 1.0:
            raise UserError(f"teacher_decay must be in [0, 1), got {self.teacher_decay}")

    @property
    def adapts(self) -> bool:
        """Whether the lambda schedule reaches the features (source_only/target_only use 0)."""
        return self.variant in ADAPTING

    def to_dict(self) -> dict[str, Any]:
        """The settings that matter for this variant (the hash is taken over exactly these)."""
        return config_dict(self, selector="variant")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DANNConfig:
        """Inverse of to_dict; unknown keys are an error (a run from another version or tool).
        A missing augment or target_entropy means off (core.options, `absent`)."""
        return config_from_dict(cls, d, "DANN")

    def run_id(self) -> str:
        """`dann-` + 12 hex digits of a hash over the canonical settings and the engine version."""
        from core.data.domains import FOLDER_PREFIX, domain_version
        from core.data.folders import fingerprint

        specs = (self.source, self.target)
        versions = {spec: v for spec in specs if (v := domain_version(spec)) != 1}
        data = {"data_versions": versions} if versions else {}
        # a folder is its images: change them and the same settings name another run
        folders = {
            spec: fingerprint(spec.removeprefix(FOLDER_PREFIX)) for spec in specs if spec.startswith(FOLDER_PREFIX)
        }
        if folders:
            data["folders"] = folders
        canonical = json.dumps({"engine": ENGINE_VERSION, **data, **self.to_dict()}, sort_keys=True)
        return "dann-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]
