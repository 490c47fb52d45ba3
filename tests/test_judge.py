"""Tests of the shipped toy-world judge (loads massact/toy/weights/judge.safetensors; never retrains)."""
import numpy as np
import pytest
import torch

from massact.toy import judge as J
from massact.toy import world


TEST_SEED = 3_000_017  # below judge.TRAIN_SEED_BASE: never seen in training


@pytest.fixture(scope="module")
def judge():
    return J.load_judge()


@pytest.fixture(scope="module")
def real():
    imgs, masks, labels, _ = world.sample_batch(TEST_SEED, 64)
    return torch.from_numpy(imgs), masks, labels


def test_attribute_accuracy(judge, real):
    imgs, _, labels = real
    pred = J.predict_attributes(judge, imgs)
    for i, a in enumerate(world.ATTRIBUTE_NAMES):
        assert pred[a].shape == (64,)
        assert (pred[a] == labels[:, i]).mean() > 0.95, a


def test_mask_iou(judge, real):
    imgs, masks, _ = real
    pred = J.foreground_mask(judge, imgs)
    assert pred.dtype == bool and pred.shape == (64, 32, 32)
    assert J.mask_iou(pred, masks).mean() > 0.9


def test_features_shape(judge, real):
    f = J.features(judge, real[0])
    assert f.dtype == np.float64 and f.shape == (64, judge.cfg.feature_dim)


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 8))
    assert J.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # shifting the mean by 1 in every dimension adds exactly D to the distance
    assert J.frechet_distance(a, a + 1.0) == pytest.approx(8.0, abs=1e-6)
    with pytest.raises(ValueError):
        J.frechet_distance(a, a[:, :4])


def test_toy_fid_separates_real_from_noise(judge):
    real_a = torch.from_numpy(world.sample_batch(TEST_SEED + 1, 256)[0])
    real_b = torch.from_numpy(world.sample_batch(TEST_SEED + 2, 256)[0])
    noise = torch.randn(256, 3, 32, 32, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    real_real = J.toy_fid(judge, real_a, reference_images=real_b)
    real_noise = J.toy_fid(judge, noise, reference_images=real_b)
    assert real_real < 0.1 * real_noise
    # the default reference set (held-out real images) agrees
    assert J.toy_fid(judge, real_a, n_reference=256) < 0.1 * J.toy_fid(judge, noise, n_reference=256)


def test_caption_accuracy_ignores_unset_attributes(judge, real):
    imgs, _, labels = real
    imgs, labels = imgs[:8], labels[:8]
    # scenes that name the true shape and a deliberately *wrong* size, and nothing else
    scenes = []
    for lab in labels:
        true = dict(zip(world.ATTRIBUTE_NAMES, lab))
        wrong_size = world.ATTRIBUTES["size"][1 - true["size"]]
        scenes.append(world.Scene(shape=world.ATTRIBUTES["shape"][true["shape"]], size=wrong_size))
    acc = J.caption_accuracy(judge, imgs, scenes)
    assert set(acc) == {"size", "shape", "mean"}
    assert acc["shape"] == 1.0 and acc["size"] == 0.0 and acc["mean"] == 0.5


def test_bad_input_shape_is_clear(judge):
    for bad in (torch.zeros(3, 32, 32), torch.zeros(2, 32, 32, 3), torch.zeros(2, 3, 64, 64)):
        with pytest.raises(ValueError, match=r"\(B,3,32,32\)"):
            J.predict_attributes(judge, bad)


def test_missing_weights_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_judge"):
        J.load_judge(tmp_path / "nope.safetensors")
