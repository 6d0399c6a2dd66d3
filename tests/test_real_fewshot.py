"""A short MAML run on the real Omniglot (runs when EXPLORER_DATA_DIR holds it; CI sets it)."""

from pathlib import Path

import pytest

from core.fewshot.config import FewShotConfig
from core.fewshot.run import evaluate_run, run_fewshot
from core.runs import RunStore
from tests.data.conftest import REAL_DATA_DIR

NEEDED = ["omniglot-py/images_background.zip", "omniglot-py/images_evaluation.zip"]
HAS_DATA = REAL_DATA_DIR is not None and all((Path(REAL_DATA_DIR) / f).is_file() for f in NEEDED)


@pytest.mark.skipif(not HAS_DATA, reason="real Omniglot not in EXPLORER_DATA_DIR")
def test_a_short_maml_run_on_omniglot_beats_chance(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(REAL_DATA_DIR))
    config = FewShotConfig(epochs=1, steps_per_epoch=40, meta_batch=8, val_episodes=100)
    outcome = run_fewshot(config, RunStore(tmp_path), device="cpu", download=False)
    rows = outcome.metrics
    assert outcome.info.complete and [r["epoch"] for r in rows] == [0, 1]
    assert outcome.info.extra["data"] | {"notes": []} == {
        "name": "Omniglot",
        "synthetic": False,
        "train_characters": 864,
        "train_classes": 3456,
        "val_characters": 100,
        "eval_characters": 659,
        "notes": [],
    }
    assert rows[-1]["val_acc"] > 0.5 and rows[-1]["val_acc"] > rows[0]["val_acc"] + 0.2  # chance: 0.2
    result = evaluate_run(config.run_id(), 5, 1, 1, 100, store=RunStore(tmp_path), device="cpu", download=False)
    assert result.characters == "Omniglot evaluation" and result.accuracy > 0.45
