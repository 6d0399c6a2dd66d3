"""The few-shot models' GPU half in one script: time the meta-step, train, evaluate, within a budget.

    python -m bench.fewshot_gpu [--budget-min 10] [--checkpoints checkpoints] [--log-dir DIR]
    python -m bench.fewshot_gpu --tiny --checkpoints /tmp/store    # a check of the script on a CPU (minutes)

1. `python -m bench.maml_speed` on the device: eager against compiled, each checked against a
   float64 meta-gradient (skipped with --no-speed).
2. Trains, side by side on the one device, with `--batch-mode compiled`: MAML, second order, and
   FO-MAML from the prototype head, each the MAML paper's 60,000 meta-steps (120 epochs of 500,
   meta-batch 32). A run not done when the budget runs out is stopped; its finished epochs are
   stored with their resume state, so the same command (or `python -m core fewshot ... --resume
   RUN`) continues it later. The budget counts from the script's start.
3. Evaluates every run that completed on the four protocols (bench.fewshot_accuracy: 1,000
   episodes of the evaluation alphabets, 95% intervals), writing its table to BENCHMARKS.md.

Each step's output goes to the console and to --log-dir. The runs land in --checkpoints, ready to
be checked on a CPU (`python -m core fewshot-eval RUN --json`) and shipped (checkpoints/shipped.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# (label, the trainer's flags) of the runs this script trains: the shipped MAML and FO-MAML recipes
RUNS = {
    "maml": ["--solver", "maml"],
    "fomaml-proto": ["--solver", "fomaml", "--head-init", "proto"],
}
FULL = ["--epochs", "120", "--steps-per-epoch", "500"]
TINY = ["--epochs", "1", "--steps-per-epoch", "2", "--meta-batch", "2", "--val-episodes", "10"]


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def _run_logged(command: list[str], log: Path, timeout: float | None = None) -> int:
    """Run `command`, its output to the console and to `log`; the return code (124: timed out)."""
    print("$", " ".join(command), flush=True)
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                out.write(line)
                print(line, end="", flush=True)
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return 124


def train_side_by_side(args, device: str, deadline: float) -> dict[str, dict]:
    """Start every run at once; stop those still going at the deadline. Label -> the CLI's JSON line."""
    shape = TINY if args.tiny else FULL
    procs = {}
    for label, flags in RUNS.items():
        command = _python(
            "core", "fewshot", *flags, *shape, "--device", device, "--batch-mode", args.batch_mode, "--json", "--quiet"
        )
        if args.checkpoints:
            command += ["--checkpoints", args.checkpoints]
        print("$", " ".join(command), flush=True)
        log = (args.log_dir / f"train-{label}.log").open("w")
        procs[label] = (subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True), log)
    results = {}
    for label, (proc, log) in procs.items():
        try:
            out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.terminate()  # finished epochs are already stored, with their resume state
            out, _ = proc.communicate()
            results[label] = {"status": "stopped at the budget; the same command continues it"}
            continue
        finally:
            log.close()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        results[label] = (
            json.loads(lines[-1]) if proc.returncode == 0 and lines else {"status": f"failed ({proc.returncode})"}
        )
        print(label, results[label], flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget-min", type=float, default=10.0, help="minutes for the whole script")
    ap.add_argument("--checkpoints", default=None, help="run store folder (default: the project's)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch-mode", default="compiled", help="the trainer's --batch-mode")
    ap.add_argument("--log-dir", type=Path, default=Path(os.environ.get("OUT", "/tmp")) / "fewshot-gpu")
    ap.add_argument("--no-speed", action="store_true", help="skip the meta-step timing")
    ap.add_argument("--tiny", action="store_true", help="a check of the script: tiny runs on the CPU")
    args = ap.parse_args()
    start = time.monotonic()
    deadline = start + 60 * args.budget_min
    args.log_dir.mkdir(parents=True, exist_ok=True)
    device = "cpu" if args.tiny else args.device
    if args.tiny:
        args.batch_mode = "vmap"
    write = [] if not args.tiny else ["--no-write"]
    summary: dict = {}
    if not args.no_speed:
        speed = ["bench.maml_speed", "--device", device, "--no-loop"]
        # tiny: one solver compiled (minutes on a CPU); the trainings' compiled path is tested in
        # tests/test_fewshot_fast.py, so the tiny runs take the eager vmap
        tiny = ["--meta-batch", "2", "--repeats", "1", "--compiled", "--solvers", "fomaml-proto"]
        speed += tiny if args.tiny else ["--repeats", "20"]
        code = _run_logged(
            _python(*speed, *write), args.log_dir / "speed.log", timeout=max(1.0, deadline - time.monotonic())
        )
        summary["speed"] = "done" if code == 0 else f"failed ({code}); see speed.log"
    runs = train_side_by_side(args, device, deadline)
    complete = [r["run_id"] for r in runs.values() if r.get("status") == "complete"]
    summary["runs"] = runs
    if complete:
        evaluate = ["bench.fewshot_accuracy", *complete, "--device", device, *write]
        if args.tiny:
            evaluate += ["--episodes", "20"]
        if args.checkpoints:
            evaluate += ["--checkpoints", args.checkpoints]
        code = _run_logged(_python(*evaluate), args.log_dir / "accuracy.log")
        summary["accuracy"] = "done" if code == 0 else f"failed ({code}); see accuracy.log"
    summary["seconds"] = round(time.monotonic() - start, 1)
    (args.log_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
