"""Episode sampling: labels, no query in the support set, rotations, task augmentation, splits."""

from __future__ import annotations

import pytest
import torch

from core.data.omniglot import CharacterSet
from core.errors import UserError
from core.fewshot.episodes import ClassPool, sample_episode, sample_tasks
from core.fewshot.trainer import split_background
from tests.fewshot import coded_characters

DRAWINGS = 6


def _codes(images: torch.Tensor) -> torch.Tensor:
    """The (character, drawing) code each flat coded image carries: (..., 1, 28, 28) -> (...)."""
    return images[..., 0, 0, 0].long()


def test_episodes_label_classes_and_keep_queries_out_of_the_support():
    pool = ClassPool(coded_characters(12, DRAWINGS))
    tasks = sample_tasks(pool, ways=4, shots=2, queries=3, count=200, generator=torch.Generator().manual_seed(0))
    assert tasks.support_x.shape == (200, 8, 1, 28, 28) and tasks.query_x.shape == (200, 12, 1, 28, 28)
    assert tasks.support_y[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert tasks.query_y[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    support, query = _codes(tasks.support_x), _codes(tasks.query_x)
    for t in range(len(tasks)):
        classes = tasks.classes[t]
        assert len(set(classes.tolist())) == 4  # distinct classes in an episode
        # every image is a drawing of the character its label stands for
        assert torch.equal(support[t] // DRAWINGS, classes[tasks.support_y[t]])
        assert torch.equal(query[t] // DRAWINGS, classes[tasks.query_y[t]])
        # all drawings of a class in an episode are distinct: no query is also a support image
        drawn = torch.cat([support[t], query[t]])
        assert len(set(drawn.tolist())) == len(drawn)
    # labels are shuffled per episode: which character gets label 0 varies
    assert len(set(tasks.classes[:, 0].tolist())) == 12
    assert not torch.equal(tasks.classes[0], tasks.classes[1])
    again = sample_tasks(pool, 4, 2, 3, 200, torch.Generator().manual_seed(0))
    assert torch.equal(again.support_x, tasks.support_x)


def _arrow(characters: int) -> CharacterSet:
    """Characters that show which way up they are: one bright pixel, in a different place each."""
    images = torch.zeros(characters, DRAWINGS, 28, 28, dtype=torch.uint8)
    for c in range(characters):
        images[c, :, 2, 3 + c] = 255
    return CharacterSet("arrows", images, ("A",) * characters, tuple(str(c) for c in range(characters)))


def test_rotations_are_classes_and_task_augmentation_turns_whole_tasks():
    chars = _arrow(5)
    pool = ClassPool(chars, rotations=4)
    assert pool.num_classes == 20 and pool.class_name(7) == "1 (rotated 270 deg)" and pool.class_name(4) == "1"
    g = torch.Generator().manual_seed(1)
    plain = sample_tasks(pool, ways=5, shots=1, queries=1, count=40, generator=g)
    assert not plain.turned.any()
    for t in range(40):
        for label, cls in enumerate(plain.classes[t].tolist()):
            char, turn = divmod(cls, 4)
            expected = torch.rot90(chars.images[char, 0], turn)
            assert torch.equal(plain.support_x[t, label, 0], expected)
    augmented = sample_tasks(pool, ways=5, shots=1, queries=1, count=40, generator=g, task_aug=1.0)
    assert set(augmented.turned.tolist()) == {1, 3}
    for t in range(40):
        extra = int(augmented.turned[t])
        for label, cls in enumerate(augmented.classes[t].tolist()):
            char, turn = divmod(cls, 4)
            expected = torch.rot90(chars.images[char, 0], turn + extra)
            assert torch.equal(augmented.support_x[t, label, 0], expected)
            assert torch.equal(augmented.query_x[t, label, 0], expected)
    some = sample_tasks(pool, 5, 1, 1, 400, torch.Generator().manual_seed(2), task_aug=0.3)
    assert 0.2 < float((some.turned > 0).float().mean()) < 0.4


def test_asking_for_more_than_the_data_has_is_a_clear_error():
    pool = ClassPool(coded_characters(4, DRAWINGS, name="tiny set"))
    g = torch.Generator()
    with pytest.raises(UserError, match=r"5-way episodes need 5 classes, but tiny set has only 4"):
        sample_tasks(pool, 5, 1, 1, 1, g)
    with pytest.raises(UserError, match=r"4 shots \+ 3 queries per class need 7 distinct drawings.*has 6"):
        sample_tasks(pool, 2, 4, 3, 1, g)
    with pytest.raises(UserError, match="ways >= 1"):
        sample_tasks(pool, 2, 0, 1, 1, g)
    assert ClassPool(coded_characters(4, DRAWINGS), rotations=4).num_classes == 16  # rotations add classes
    episode = sample_episode(pool, 4, 1, 5, g)
    assert episode.support_x.shape == (4, 1, 28, 28) and episode.query_y.shape == (20,)


def test_validation_characters_are_held_out_from_training():
    chars = coded_characters(30, DRAWINGS)
    train, val = split_background(chars, 7)
    assert len(train) == 23 and len(val) == 7
    train_codes, val_codes = set(train.characters), set(val.characters)
    assert not train_codes & val_codes and train_codes | val_codes == set(chars.characters)
    assert split_background(chars, 7)[1].characters == val.characters  # fixed, whatever the training seed
    assert split_background(chars, 0)[1] is None
    with pytest.raises(UserError, match="every one of the 30"):
        split_background(chars, 30)
