"""What the machine has, found without importing torch (which takes seconds), for the home page.

The trainers pick their device with core.device.pick_device (torch's view); this module only
says what hardware is there: an NVIDIA GPU when its driver answers, else the CPU's cores.
"""

from __future__ import annotations

import os
import shutil
import subprocess


def nvidia_gpus(timeout: float = 3.0) -> list[str]:
    """Names of the NVIDIA GPUs the driver reports ([] without a driver or nvidia-smi)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def describe_hardware() -> str:
    """One line: the NVIDIA GPU(s) the driver reports, else the CPU. PyTorch's build is not checked here
    (that needs torch); the trainers' own pick_device has the last word."""
    gpus = nvidia_gpus()
    if gpus:
        return f"CUDA GPU: {', '.join(gpus)} (training runs there; the CPU has {os.cpu_count()} cores)"
    return f"CPU ({os.cpu_count()} cores; no NVIDIA GPU found): training runs on the CPU"
