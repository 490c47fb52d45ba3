"""massact.clustering: planted token maps, the polarity rules, bounds, the batched k-means."""
import numpy as np
import pytest
import torch

from massact import clustering as C

GRID = (16, 16)


def planted(seed=0, d=32, planted_channels=(3, 7, 11, 20), signs=None, noise=0.05, region=None):
    """Tokens (256, d): a square subject in the middle of the grid (not touching the border)
    that differs from the background on planted_channels; noise everywhere."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(256, d, generator=g) * noise
    m = np.zeros(GRID, bool)
    if region is None:
        m[5:11, 4:10] = True
    else:
        m[region] = True
    fg = torch.from_numpy(m.reshape(-1))
    signs = signs or [1.0] * len(planted_channels)
    for c, s in zip(planted_channels, signs):
        x[fg, c] += s * (1.0 + c / 10)  # different magnitudes per channel
        x[:, c] += 50.0 * s  # a large offset: the channel is massive
    return x, m


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_map_gives_the_mask_whatever_the_channel_order(seed):
    rng = np.random.default_rng(seed)
    chans = [3, 7, 11, 20]
    signs = list(rng.choice([-1.0, 1.0], size=4))  # some channels larger on the background
    x, truth = planted(seed, signs=signs)
    for _ in range(3):
        order = list(rng.permutation(chans))
        out = C.cluster_tokens(x, order, GRID)
        assert out["mask"].shape == GRID and out["score"].shape == GRID and out["labels"].shape == GRID
        assert (out["mask"] == truth).all(), order
    # permuting the channel axis of the tensor itself (and the channel indices with it)
    perm = torch.from_numpy(rng.permutation(32))
    inv = torch.argsort(perm)
    out = C.cluster_tokens(x[:, perm], [int(inv[c]) for c in chans], GRID)
    assert (out["mask"] == truth).all()


def test_border_rule_survives_negation_and_activation_rule_flips():
    x, truth = planted(0)  # the subject is higher on every planted channel
    ch = [3, 7, 11, 20]
    pos, neg = C.cluster_tokens(x, ch, GRID), C.cluster_tokens(-x, ch, GRID)
    assert (pos["mask"] == truth).all() and (neg["mask"] == truth).all()
    act_pos = C.cluster_tokens(x, ch, GRID, polarity="activation")["mask"]
    act_neg = C.cluster_tokens(-x, ch, GRID, polarity="activation")["mask"]
    assert (act_pos == truth).all()
    assert (act_neg == ~truth).all()  # the inverted mask of the public reproduction
    assert C.iou(act_neg, truth) == 0.0 and C.oracle_iou(act_neg, truth) == 1.0


def test_border_rule_with_a_subject_touching_one_edge():
    region = (slice(4, 12), slice(0, 7))  # a subject at the left edge
    x, truth = planted(1, region=region)
    assert (C.cluster_tokens(x, [3, 7, 11, 20], GRID)["mask"] == truth).all()
    assert (C.cluster_tokens(-x, [3, 7, 11, 20], GRID)["mask"] == truth).all()


def test_K_three_and_the_score_map():
    x, truth = planted(0)
    x[:16, 5] += 3.0  # a third region: the first token row
    out = C.cluster_tokens(x, [3, 7, 11, 20, 5], GRID, K=3)
    assert len(np.unique(out["labels"])) == 3
    assert out["mask"][truth].all()  # every non-background cluster is foreground
    assert np.allclose(out["score"].reshape(-1), C.normalised_tokens(x, [3, 7, 11, 20, 5]).sum(1))


@pytest.mark.parametrize("K", [0, 1, 17, 300, 2.0, True, "2"])
def test_K_bounds(K):
    x, _ = planted(0)
    with pytest.raises(ValueError, match="K"):
        C.cluster_tokens(x, [3, 7], GRID, K=K)


def test_k_and_channel_bounds():
    x, _ = planted(0)
    with pytest.raises(ValueError, match="k"):
        C.cluster_tokens(x, [], GRID)
    with pytest.raises(ValueError, match="out of range"):
        C.cluster_tokens(x, [3, 32], GRID)
    with pytest.raises(ValueError, match="out of range"):
        C.cluster_tokens(x, [-1], GRID)
    with pytest.raises(ValueError, match="duplicates"):
        C.cluster_tokens(x, [3, 3], GRID)
    with pytest.raises(ValueError, match="token grid"):
        C.cluster_tokens(x, [3], (8, 8))
    with pytest.raises(ValueError, match="polarity"):
        C.cluster_tokens(x, [3], GRID, polarity="bigger")
    C.cluster_tokens(x, [3], GRID)  # k = 1 works
    C.cluster_tokens(x, list(range(32)), GRID)  # k = width works


def test_constant_tokens_give_no_foreground():
    out = C.cluster_tokens(torch.ones(256, 8), [0, 1], GRID)
    assert not out["mask"].any() and (out["labels"] == 0).all()


def test_token_foreground_mask_rows_and_per_row_channels():
    xs, truths = zip(*(planted(s) for s in range(3)))
    tokens = torch.stack(xs)
    m = C.token_foreground_mask(tokens, [3, 7, 11, 20], GRID)
    assert m.shape == (3, 256) and m.dtype == torch.bool
    assert all((m[i].numpy() == truths[i].reshape(-1)).all() for i in range(3))
    per_row = C.token_foreground_mask(tokens, [[3, 7], [11, 20], [3, 20]], GRID)
    assert (per_row == m).all()
    ragged = C.token_foreground_mask(tokens, [[3], [11, 20], [3, 7, 20]], GRID)
    assert (ragged == m).all()
    with pytest.raises(ValueError, match="rows, tokens, channels"):
        C.token_foreground_mask(tokens[0], [3], GRID)


def test_batched_kmeans_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    z = torch.rand(6, 256, 4, generator=g)
    z[:, :90] += 0.6
    a, b = C.kmeans(z, 2), C.kmeans(z, 2, backend="sklearn")
    for i in range(len(z)):
        same = (a[i] == b[i]).all() or (a[i] != b[i]).all()  # equal up to label names
        assert same
    x, truth = planted(0)
    assert (C.cluster_tokens(x, [3, 7, 11], GRID, backend="sklearn")["mask"] == truth).all()
    with pytest.raises(ValueError, match="backend"):
        C.kmeans(z, 2, backend="faiss")


def test_kmeans_is_deterministic():
    z = torch.rand(3, 256, 3, generator=torch.Generator().manual_seed(1))
    z[:, :60, 0] += 1.0
    z[:, 60:120, 1] += 1.0
    a = C.kmeans(z, 3, seed=4)
    assert (a == C.kmeans(z, 3, seed=4)).all()
    assert all(len(np.unique(r)) == 3 for r in a)


def test_iou_helpers():
    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[1:3] = True
    assert C.iou(a, b) == pytest.approx(4 / 12)
    assert C.oracle_iou(a, b) == pytest.approx(max(4 / 12, 4 / 12))
    assert C.iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    assert C.oracle_iou(~b, b) == 1.0
    batch = C.batch_iou(np.stack([a, ~a]), b)
    assert batch[0] == pytest.approx(C.iou(a, b)) and batch[1] == pytest.approx(C.iou(~a, b))


def test_upsample_mask():
    m = np.eye(16, dtype=bool)
    up = C.upsample_mask(m, 32)
    assert up.shape == (32, 32) and up[1, 1] and up[0, 1] and not up[0, 2]
    assert C.upsample_mask(np.stack([m, ~m]), (32, 32)).shape == (2, 32, 32)
    with pytest.raises(ValueError, match="multiple"):
        C.upsample_mask(m, 33)


def test_grid_ceiling_iou():
    truth = np.zeros((2, 8, 8), dtype=bool)
    truth[0, 0:4, 0:4] = True          # aligned with a 2x2 grid of 4x4 tokens: reachable exactly
    truth[1, 1:4, 1:4] = True          # 9 of a token's 16 pixels: the best token mask overshoots
    ceiling = C.grid_ceiling_iou(truth, (2, 2))
    assert ceiling.shape == (2,)
    assert ceiling[0] == pytest.approx(1.0)
    assert ceiling[1] == pytest.approx(9 / 16)
    # a small shape across four tokens (2, 2, 1 and 1 of their 16 pixels): a majority vote gives the
    # empty mask (IoU 0); the best token mask takes the two tokens holding 2 pixels each
    small = np.zeros((8, 8), dtype=bool)
    small[2:5, 3] = small[2:5, 4] = True
    assert C.grid_ceiling_iou(small, (2, 2)) == pytest.approx(4 / (6 + 2 * 14))


def test_grid_ceiling_bounds_every_token_mask():
    rng = np.random.default_rng(0)
    truth = rng.random((6, 8, 8)) < 0.3
    ceiling = C.grid_ceiling_iou(truth, (4, 4))
    for bits in range(1 << 16):  # every mask of the 4x4 token grid
        if bits % 97:  # a spread-out sample keeps the test fast
            continue
        tokens = np.array([(bits >> i) & 1 for i in range(16)], bool).reshape(4, 4)
        iou = C.batch_iou(C.upsample_mask(tokens, (8, 8)), truth)
        assert np.all(iou <= ceiling + 1e-12)
    with pytest.raises(ValueError, match="multiple of the token grid"):
        C.grid_ceiling_iou(truth, (3, 3))
