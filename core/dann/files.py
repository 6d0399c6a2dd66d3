"""Names of a DANN run's files (no torch here: the app's pages import this before anything heavy)."""

KIND = "dann"
INDEX_FILE = "snapshots/index.safetensors"
WEIGHTS_FILE = "weights.safetensors"


def snapshot_file(epoch: int) -> str:
    return f"snapshots/epoch_{epoch:04d}.safetensors"
