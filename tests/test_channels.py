"""What a channel is: the decomposition of its mean square on planted tensors with known shares,
and on the toy model (plumbing: shapes, sums, errors)."""
import pytest
import torch

from massact.claims.channels import SOURCES, decompose, stack_block, variance_shares


def _planted(offset=2.0, step=(-1.0, 1.0), prompt=(-2.0, 0.0, 2.0), seed=(-0.5, 0.5), token=(-3.0, 3.0, -3.0, 3.0)):
    e = [torch.tensor(v, dtype=torch.float64) for v in (prompt, seed, step, token)]
    x = offset + e[0][:, None, None, None] + e[1][None, :, None, None] + e[2][None, None, :, None] \
        + e[3][None, None, None, :]
    return x[..., None]  # one channel


def test_planted_main_effects_give_their_variances_as_shares():
    x = torch.cat([_planted(), _planted(offset=0.0, prompt=(0.0, 0.0, 0.0))], dim=-1)
    shares = variance_shares(x)
    # channel 0: offset 4, step 1, prompt 8/3, seed 1/4, token 9 -> total 16.9167; no interaction
    parts = torch.tensor([4.0, 1.0, 8.0 / 3.0, 0.25, 9.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(shares[0], parts / parts.sum())
    torch.testing.assert_close(shares.sum(dim=1), torch.ones(2, dtype=torch.float64))
    assert shares[1, 0] == 0 and shares[1, 2] == 0  # no offset, no prompt effect


def test_an_interaction_is_what_the_main_effects_leave():
    x = torch.zeros(2, 1, 1, 2, 1)
    x[0, 0, 0] = torch.tensor([[1.0], [-1.0]])  # the token pattern flips with the prompt: pure interaction
    x[1, 0, 0] = torch.tensor([[-1.0], [1.0]])
    assert variance_shares(x)[0].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def test_stack_block_factors_prompt_major_rows_and_refuses_a_bad_factoring():
    t = {(3, s): torch.arange(6 * 2 * 1, dtype=torch.float32).reshape(6, 2, 1) + 100 * s for s in (1, 0)}
    x = stack_block(t, 3, num_prompts=3, num_seeds=2)
    assert x.shape == (3, 2, 2, 2, 1) and x[1, 0, 1, 0, 0] == 104  # prompt 1, seed 0 = row 2; step 1
    with pytest.raises(ValueError, match="do not factor"):
        stack_block(t, 3, num_prompts=4, num_seeds=2)
    with pytest.raises(ValueError, match="no tensors kept for block 5"):
        stack_block(t, 5, 3, 2)


def test_decompose_on_a_tiny_model(tiny):
    from massact.toy import world

    rows = decompose(tiny, world.caption_set(2, 3), [0, 1], block=1, channels=[0, 5], num_steps=3)
    assert [r["channel"] for r in rows] == [0, 5]
    for r in rows:
        assert sum(r[k] for k in SOURCES) == pytest.approx(1.0) and r["mean_square"] > 0
    with pytest.raises(ValueError, match="at least 2 prompts and 2 seeds"):
        decompose(tiny, world.caption_set(1, 3), [0, 1], block=1, channels=[0])
