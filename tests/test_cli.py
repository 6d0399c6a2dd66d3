"""The command line end to end, on small generated folders in the course homework's layout."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from core import options
from core.__main__ import main
from core.dann.config import DANNConfig


@pytest.fixture
def homework(tmp_path, monkeypatch):
    """train_data/<class>/*.png (labelled source) and test_data/0/*.png (unlabelled target)."""
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for c in range(10):
        (tmp_path / "hw" / "train_data" / str(c)).mkdir(parents=True)
        for i in range(3):
            img = np.zeros((32, 32, 3), np.uint8)
            img[4 + 2 * c : 12 + 2 * c, 4:28] = rng.integers(100, 255, 3)
            Image.fromarray(img).save(tmp_path / "hw" / "train_data" / str(c) / f"{i}.png")
    (tmp_path / "hw" / "test_data" / "0").mkdir(parents=True)
    for i in range(20):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(
            tmp_path / "hw" / "test_data" / "0" / f"{i}.png"
        )
    return tmp_path


def _args(root, *extra):
    return [
        "dann",
        "--source",
        f"folder:{root / 'hw' / 'train_data'}",
        "--target",
        f"folder:{root / 'hw' / 'test_data'}",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "8",
        "--snapshot-size",
        "10",
        "--checkpoints",
        str(root / "runs"),
        "--device",
        "cpu",
        "--no-download",
        *extra,
    ]


def test_train_then_find_the_stored_run(homework, capsys):
    assert main(_args(homework, "--json", "--source-edges")) == 0
    first = json.loads(capsys.readouterr().out.strip())
    assert first["trained_now"] and first["status"] == "complete" and first["epochs"] == 1
    assert first["target_acc"] is None  # the target folder is unlabelled
    assert 0.0 <= first["source_acc"] <= 1.0 and first["run_id"].startswith("dann-")
    assert main(_args(homework, "--json", "--source-edges")) == 0
    again = json.loads(capsys.readouterr().out.strip())
    assert not again["trained_now"] and again["run_id"] == first["run_id"]

    assert main(["runs", "list", "--checkpoints", str(homework / "runs"), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["run"] == first["run_id"] and row["status"] == "complete"
    assert main(["runs", "show", first["run_id"], "--checkpoints", str(homework / "runs")]) == 0
    shown = capsys.readouterr().out
    assert '"source_edges": true' in shown and "source_acc" in shown
    assert main(["runs", "delete", first["run_id"], "--checkpoints", str(homework / "runs")]) == 0
    assert not (homework / "runs" / first["run_id"]).exists()


def test_table_and_notes_without_json(homework, capsys):
    assert main(_args(homework)) == 0
    out = capsys.readouterr().out
    assert "trained;" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("epoch"))
    assert header.split()[:3] == ["epoch", "source_acc", "target_acc"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--schedule", "expr", "--expr", "__import__('os')"], "not allowed"),
        (["--schedule", "expr", "--expr", "log(p)"], "not finite"),
        (["--schedule", "expr"], "--expr"),
        (["--variant", "target_only"], "target_only"),
    ],
)
def test_user_errors_print_one_line_and_train_nothing(homework, capsys, extra, message):
    assert main(_args(homework, *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not any((homework / "runs").glob("dann-*/metrics.json"))


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    code = main(
        ["dann", "--source", f"folder:{tmp_path / 'nowhere'}", "--checkpoints", str(tmp_path / "runs"), "--no-download"]
    )
    assert code == 2 and str(tmp_path / "nowhere") in capsys.readouterr().err


RUN_FLAGS = {"--help", "--device", "--checkpoints", "--retrain", "--resume", "--no-download", "--json", "--quiet"}


def test_help_documents_every_option(capsys):
    """Every setting of DANNConfig is a flag with its help and default, found as a whole flag (a
    substring match would let --target stand for --target-entropy), and there are no others."""
    with pytest.raises(SystemExit):
        main(["dann", "--help"])
    text = capsys.readouterr().out
    listed = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text.split("options:", 1)[1]))
    settings = {s.flag: s for s in options.settings(DANNConfig)}
    assert {"--augment", "--target-entropy", "--lambda-value", "--lr", "--source-edges"} <= set(settings)
    assert listed == set(settings) | RUN_FLAGS | {"--preset"}  # --preset sets some of them at once
    for flag, setting in settings.items():
        entry = text.split(f"  {flag}", 1)[1].split("\n  --", 1)[0]
        assert f"(default: {setting.default})" in " ".join(entry.split()), flag
    assert "(default: mnistm)" in text and "source_only" in text


def test_the_lecture_preset_sets_its_settings_and_flags_beside_it_still_count():
    from core.__main__ import _apply_preset, _config_from_args, build_parser
    from core.dann.config import PRESETS, DANNConfig
    from core.options import from_flat

    def config(*flags):
        parser = build_parser()
        _apply_preset(["dann", *flags])
        return _config_from_args(DANNConfig, parser.parse_args(["dann", *flags]))

    lecture = config("--preset", "lecture")
    assert lecture == from_flat(DANNConfig, PRESETS["lecture"].settings)
    assert lecture.steps_per_epoch == PRESETS["lecture"].settings["steps_per_epoch"]
    assert lecture.lr.lr0 == PRESETS["lecture"].settings["lr"]  # a flat key: the flag --lr
    # nested settings too: the schedule's kind and end value are flat keys of LambdaSchedule
    assert (lecture.schedule.kind, lecture.schedule.value) == ("dann", PRESETS["lecture"].settings["lambda_value"])
    assert lecture.schedule.value != DANNConfig().schedule.value
    defaults = DANNConfig()  # the rest is the defaults'
    assert lecture.lr.alpha == defaults.lr.alpha and lecture.batch_size == defaults.batch_size
    assert config("--preset", "lecture", "--epochs", "3").epochs == 3  # a flag beside the preset wins
    assert config("--preset", "lecture", "--lambda-value", "0.5").schedule.value == 0.5
    assert config("--epochs", "3").snapshot_size == DANNConfig().snapshot_size  # no preset, no change
    with pytest.raises(SystemExit):
        config("--preset", "marathon")
