"""What a channel is: the decomposition of its mean square on planted tensors with known shares,
and on the toy model (plumbing: shapes, sums, errors)."""
import pytest
import torch

from massact.claims.channels import (SOURCES, attribute_shares, decompose, median_channel, prompt_labels, stack_block,
                                    variance_shares)


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


def _by_background():
    """Six prompts whose per-prompt means are a known function of the background; the size is
    crossed with it (each size meets each background once), so it explains none of them."""
    background = ["black", "gray", "white", "black", "gray", "white"]
    size = ["small", "small", "small", "large", "large", "large"]
    level = {"black": -1.0, "gray": 0.5, "white": 2.0}
    noise = torch.randn(6, 2, 3, 4, 1, generator=torch.Generator("cpu").manual_seed(0))
    noise = noise - noise.mean(dim=(1, 2, 3), keepdim=True)  # variation within prompts, no per-prompt mean
    x = 5.0 + torch.tensor([level[b] for b in background])[:, None, None, None, None] + noise
    return x, {"background": background, "size": size}


def test_attribute_shares_find_the_attribute_the_prompt_means_follow():
    x, labels = _by_background()
    shares = attribute_shares(x, labels)
    assert shares["background"]["eta2"][0].item() == pytest.approx(1.0)
    assert shares["size"]["eta2"][0].item() == pytest.approx(0.0, abs=1e-12)
    assert shares["background"]["chance"] == pytest.approx(2 / 5) and shares["size"]["chance"] == pytest.approx(1 / 5)
    assert (shares["background"]["levels"], shares["background"]["prompts"]) == (3, 6)
    # a small per-prompt disturbance: the background still explains nearly all, the size nearly none
    jitter = 0.05 * torch.randn(6, generator=torch.Generator("cpu").manual_seed(1))
    shares = attribute_shares(x + jitter[:, None, None, None, None], labels)
    assert shares["background"]["eta2"][0] > 0.99 and shares["size"]["eta2"][0] < 0.01


def test_attribute_shares_count_only_the_prompts_that_name_the_attribute():
    x, labels = _by_background()
    unnamed = {"background": labels["background"][:5] + [None], "color": ["red"] * 6,
               "shape": ["circle", "square", "triangle", "circle", "square", None]}
    shares = attribute_shares(x, unnamed)
    assert shares["background"]["prompts"] == 5 and shares["background"]["eta2"][0].item() == pytest.approx(1.0)
    assert shares["color"]["eta2"].isnan().all() and shares["color"]["chance"] != shares["color"]["chance"]  # one value
    assert shares["shape"]["prompts"] == 5 and shares["shape"]["levels"] == 3
    with pytest.raises(ValueError, match="3 labels for 6 prompts"):
        attribute_shares(x, {"size": ["small"] * 3})


def test_prompt_labels_read_the_world_and_refuse_a_model_without_attributes(tiny):
    from types import SimpleNamespace

    from massact.world import World

    labels = prompt_labels(tiny, ["a large red circle on a black background", "a blue square"])
    assert labels["color"] == ["red", "blue"] and labels["background"] == ["black", None]
    assert set(labels) == set(tiny.world.attributes)
    with pytest.raises(ValueError, match="no world"):
        prompt_labels(SimpleNamespace(world=None, name="bare"), ["a cat"])
    with pytest.raises(ValueError, match="names no attributes"):
        prompt_labels(SimpleNamespace(world=World(), name="bare"), ["a cat"])


def test_scene_world_reads_its_composed_captions_only():
    from massact.world import SCENE_ATTRIBUTES, SceneWorld, scene_caption

    words = {a: v[1] for a, v in SCENE_ATTRIBUTES.items()}
    found = SceneWorld().prompt_attributes([scene_caption(**words), "a cat on a mat"])
    assert found == [words, {}]


def test_median_channel_is_the_median_the_ratios_divide_by():
    scores = torch.tensor([5.0, 1.0, 9.0, 3.0, 7.0, 2.0])
    assert median_channel(scores) == 3  # torch.median takes the lower middle value, 3.0
    assert scores[median_channel(scores)] == scores.median()
    with pytest.raises(ValueError, match="one block's"):
        median_channel(scores[None])


def test_decompose_reads_attributes_on_a_tiny_model(tiny):
    from massact.toy import world

    rows = decompose(tiny, world.caption_set(6, 3), [0, 1], block=1, channels=[0, 5], num_steps=3, attributes=True)
    for r in rows:
        assert set(r["attribute_shares"]) == set(world.ATTRIBUTE_NAMES) == set(r["attribute_chance"])
        assert all(v is None or 0 <= v <= 1 + 1e-9 for v in r["attribute_shares"].values())


def _row(channel, rank, offset, prompt, rest="token", median=False, **attributes):
    row = {"channel": channel, "rank": rank, **{k: 0.0 for k in SOURCES}, "offset": offset, "prompt": prompt}
    row[rest] = 1.0 - offset - prompt
    if median:
        row["median"] = True
    if attributes:
        row["attribute_shares"] = {a: e for a, (e, _) in attributes.items()}
        row["attribute_chance"] = {a: c for a, (_, c) in attributes.items()}
    return row


def test_decomposition_reading_names_offsets_and_attribute_codes():
    from massact.readings import decomposition

    rows = [_row(7, 1, 0.9, 0.02, background=(0.9, 0.2), color=(0.3, 0.2)),
            _row(3, 2, 0.1, 0.6, background=(0.2, 0.2), color=(0.95, 0.2)),
            _row(11, 64, 0.05, 0.05, median=True, background=(0.1, 0.2), color=(0.1, 0.2))]
    text = decomposition(rows, block=4)
    assert "channel 7 (rank 1) is mostly a constant offset: it holds 90% of its mean square" in text
    assert "mean-ablation control" in text
    assert "Channel 3 varies across prompts (60% of its mean square) and the color explains 95%" in text
    assert "code for the color" in text and "code for the background" not in text
    # nothing varies across prompts: no code, and the attribute that explains the little there is, beyond chance
    rows = [_row(7, 1, 0.9, 0.02, background=(0.9, 0.2), color=(0.3, 0.2)), rows[2]]
    text = decomposition(rows, block=4)
    assert "none is an attribute code" in text and "follows the background (90% explained, chance 20%)" in text
    # a chance-level eta^2 explains nothing
    rows = [_row(7, 1, 0.9, 0.02, background=(0.3, 0.2)), rows[1]]
    assert "none is an attribute code" in decomposition(rows, block=4) and "follows" not in decomposition(rows, block=4)
    # a channel that varies across prompts with no attribute beyond chance is no code
    rows = [_row(3, 1, 0.1, 0.6, background=(0.3, 0.2), color=(0.25, 0.2)), rows[1]]
    text = decomposition(rows, block=4)
    assert "At block 4, channel 3 (rank 1) is mostly prompt (60%)" in text and "no attribute explains" in text
    # too few prompts per value: chance above MAX_CHANCE, nothing is read
    rows = [_row(3, 1, 0.1, 0.6, color=(1.0, 0.67)), rows[1]]
    assert "Too few prompts per attribute value" in decomposition(rows, block=4)
    assert "not read" in decomposition([_row(7, 1, 0.9, 0.02)], block=4)
    assert ("channels 7, 8 (ranks 1, 2) are mostly a constant offset: it holds 90% and 60% of their mean square"
            in decomposition([_row(7, 1, 0.9, 0.02), _row(8, 2, 0.6, 0.1)], block=4))


def test_step_profile_reading_states_both_directions_from_the_profile():
    from massact.readings import step_profile

    prof = [{"step": s, "top_channel": [9], "top_channel_value": [v], "top1_over_median": [r]}
            for s, (v, r) in enumerate([(1.0, 50.0), (2.0, 40.0), (3.0, 30.0), (4.0, 20.0)])]
    text = step_profile(prof, 0)
    assert "|mean| at block 0 rises toward the clean image" in text and "this model agrees" in text
    assert "top-1/median ratio falls toward the clean image: 50.0x to 20.0x (-1.00)" in text
    flat = [dict(r, top_channel_value=[v]) for r, v in zip(prof, (2.0, 1.0, 2.5, 1.5))]
    assert "shows no steady direction" in step_profile(flat, 0) and "agrees" not in step_profile(flat, 0)


def test_the_report_decomposition_reads_attributes_and_skips_them_without_a_world(tiny, monkeypatch):
    from massact.generation import generate
    from massact.report.context import ReportContext
    from massact.report.sections import channel_decomposition
    from massact.specs import CaptureSpec
    from massact.toy import world

    ctx = ReportContext(tiny, tiny.metrics(), world.caption_set(5, 3), world.caption_set(2, 4), [0, 1, 2],
                        quick=True, progress=False)
    stats = generate(tiny, ctx.prompts[:2], [0, 1], capture=CaptureSpec()).stats
    scores = stats.score("absmean")[1]
    res, inputs = channel_decomposition(ctx, scores, 1, top=2)
    rows = res["rows"]
    assert res["block"] == 1 and [r["rank"] for r in rows[:2]] == [1, 2]
    assert [r["median"] for r in rows] == [False, False, True] and rows[0]["channel"] == int(scores.argmax())
    assert rows[-1]["ratio_to_median"] == 1.0 and rows[0]["ratio_to_median"] > 1
    assert all((r["num_prompts"], r["num_seeds"], r["num_steps"]) == (4, 2, 4) for r in rows)  # quick: 4 x 2
    assert all(set(r["attribute_shares"]) == set(world.ATTRIBUTE_NAMES) for r in rows)
    assert res["reading"] and "read by model.world" in inputs["attributes"]
    monkeypatch.setattr(tiny, "world", None)
    res, inputs = channel_decomposition(ctx, scores, 1, top=2)
    assert all("attribute_shares" not in r for r in res["rows"]) and "has no world" in res["reading"]
    assert inputs["attributes"].startswith("not read")
