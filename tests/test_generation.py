"""massact.generate on the shipped toy model: seeds, prompts, the Generation it returns."""
from __future__ import annotations

import pytest
import torch

import massact
from massact.specs import CaptureSpec
from tiny_models import hooks_installed
from massact.toy import world


PROMPTS = ["a large red circle at the left on a black background",
           "a small blue square at the right on a white background",
           "a green triangle", "a yellow circle at the top"]
STEPS = 4



def test_generation_fields(model):
    gen = massact.generate(model, PROMPTS[:3], seeds=[0, 1, 2], num_steps=STEPS, capture=True)
    assert gen.images.shape == (3, 3, 32, 32) and gen.images.dtype == torch.float32
    assert 0.0 <= gen.images.min() and gen.images.max() <= 1.0
    assert gen.prompts == PROMPTS[:3] and gen.seeds == [0, 1, 2] and gen.num_steps == STEPS
    assert gen.guidance == model.default_guidance
    assert gen.stats.shape == (3, model.num_blocks, STEPS, model.width)
    assert gen.text_stats is None and gen.tensors == {} and gen.edits == ()
    plain = massact.generate(model, PROMPTS[:3], seeds=[0, 1, 2], num_steps=STEPS)
    assert plain.stats is None
    assert torch.equal(plain.images, gen.images)  # capturing does not change the images
    assert hooks_installed(model.transformer) == 0


def test_same_seed_same_image(model):
    a = massact.generate(model, PROMPTS[:2], seeds=[11, 12], num_steps=STEPS)
    b = massact.generate(model, PROMPTS[:2], seeds=[11, 12], num_steps=STEPS)
    assert torch.equal(a.images, b.images)
    c = massact.generate(model, PROMPTS[:2], seeds=[11, 13], num_steps=STEPS)
    torch.testing.assert_close(c.images[0], a.images[0], rtol=0, atol=1e-4)  # see the next test
    assert not torch.allclose(c.images[1], a.images[1], atol=1e-2)  # another seed, another image
    # a single int seeds every row
    d = massact.generate(model, PROMPTS[:2], seeds=11, num_steps=STEPS)
    e = massact.generate(model, PROMPTS[:2], seeds=[11, 11], num_steps=STEPS)
    assert d.seeds == [11, 11] and torch.equal(d.images, e.images)


def test_same_seed_same_image_whatever_else_is_in_the_batch(model):
    """Each row's noise comes from its own generator, so a row does not depend on the other rows.

    Equality is up to float rounding, not bit-for-bit: the CPU matmul kernels pick their blocking
    from the batch size (rows x tokens), so the same row summed in another batch can differ in the
    last bits (~1e-6 to 1e-5 here, depending on the thread count).
    """
    alone = massact.generate(model, [PROMPTS[1]], seeds=[42], num_steps=STEPS)
    batch = massact.generate(model, PROMPTS, seeds=[1, 42, 3, 4], num_steps=STEPS)
    other = massact.generate(model, [PROMPTS[2], PROMPTS[1]], seeds=[9, 42], num_steps=STEPS)
    torch.testing.assert_close(batch.images[1], alone.images[0], rtol=0, atol=1e-4)
    torch.testing.assert_close(other.images[1], alone.images[0], rtol=0, atol=1e-4)


@pytest.mark.parametrize("prompts, match", [
    (["a red circle", "a red dragon"], "unknown word 'dragon'"),
    (["a red"], "names no shape"),
])
def test_bad_prompts_list_the_vocabulary(model, prompts, match):
    with pytest.raises(ValueError, match=match) as err:
        massact.generate(model, prompts, seeds=0, num_steps=STEPS)
    msg = str(err.value)
    for words in world.ATTRIBUTES.values():
        for w in words:
            assert w in msg


def test_empty_prompt_list(model):
    with pytest.raises(ValueError, match="empty prompt list"):
        massact.generate(model, [], seeds=0, num_steps=STEPS)
    with pytest.raises(ValueError, match="empty or not a string"):
        massact.generate(model, ["a red circle", "  "], seeds=0, num_steps=STEPS)
    with pytest.raises(TypeError, match="list of strings"):
        massact.generate(model, "a red circle", seeds=0, num_steps=STEPS)


def test_empty_prompt_list_lists_the_vocabulary(model):
    with pytest.raises(ValueError, match="circle") as err:
        massact.generate(model, [], seeds=0, num_steps=STEPS)
    assert "square" in str(err.value)


def test_seed_and_step_errors(model):
    with pytest.raises(ValueError, match="3 seeds for 2 prompts"):
        massact.generate(model, PROMPTS[:2], seeds=[1, 2, 3], num_steps=STEPS)
    for bad in (0, -1, 1001):
        with pytest.raises(ValueError, match=r"num_steps .* out of range: num_steps must be in 1\.\.1000"):
            massact.generate(model, PROMPTS[:1], seeds=0, num_steps=bad)
    for bad in (2.5, True):
        with pytest.raises(TypeError, match=r"num_steps .* is not an integer: num_steps must be in 1\.\.1000"):
            massact.generate(model, PROMPTS[:1], seeds=0, num_steps=bad)
    assert hooks_installed(model.transformer) == 0


def test_num_steps_is_the_only_count_keyword(model):
    a = massact.generate(model, PROMPTS[:1], seeds=0, num_steps=2)
    assert a.num_steps == 2
    with pytest.raises(TypeError, match="steps"):
        massact.generate(model, PROMPTS[:1], seeds=0, steps=2)


def test_token_map(model):
    gen = massact.generate(model, PROMPTS[:2], seeds=[0, 1], num_steps=STEPS, capture=CaptureSpec(keep=((2, 3),)))
    tm = gen.token_map(2, 3)
    assert tm.shape == (2, model.num_image_tokens, model.width) and tm.dtype == torch.float32
    assert model.token_grid() == (8, 8)
    assert tm.reshape(2, 8, 8, model.width).shape[1:3] == model.token_grid()
    with pytest.raises(KeyError, match=r"\(block 2, step 1\) was not kept; kept pairs: \[\(2, 3\)\]"):
        gen.token_map(2, 1)
    with pytest.raises(KeyError, match=r"keep=\(\(5, 0\),\)"):
        gen.token_map(5, 0)
    nothing = massact.generate(model, PROMPTS[:1], seeds=0, num_steps=STEPS)
    with pytest.raises(KeyError, match="kept pairs: \\[\\]"):
        nothing.token_map(0, 0)


# -- from given initial noise (latents=) -------------------------------------------------------
def _same_stats(a, b) -> bool:
    da, db = a.to_dict(), b.to_dict()
    return da.keys() == db.keys() and all(
        torch.equal(da[k], db[k]) if isinstance(da[k], torch.Tensor) else da[k] == db[k] for k in da)


@pytest.mark.parametrize("guidance", [1.0, None])
def test_generate_from_latents_is_the_hand_written_tracer_run(model, guidance):
    """generate(latents=...) is bit for bit the Tracer run around model.sample(latents=...)
    (the run a reconstruction from inverted noise and a subject transfer make): same images,
    same statistics, same kept tensors, with and without an edit."""
    from massact.hooks import EditSpec, Tracer

    prompts = PROMPTS[:2]
    latents = model.initial_noise([5, 6]) * 0.9  # any noise in the sampler's layout, not a seed's
    g = model.default_guidance if guidance is None else guidance
    capture = CaptureSpec(keep=((1, 0), (3, 2)))
    for edits in ((), (EditSpec("zero", {2: (0, 7)}, steps=(1,)),)):
        layout = model.batch_layout(len(prompts), g)
        with Tracer(model.transformer, layout, capture=capture, edits=edits, num_steps=STEPS, width=model.width,
                    num_tokens=model.num_image_tokens) as tr:
            by_hand = model.sample(prompts, None, STEPS, g, latents=latents)
        res = tr.result()
        gen = massact.generate(model, prompts, num_steps=STEPS, guidance=guidance, capture=capture, edits=edits,
                               latents=latents)
        assert torch.equal(gen.images, by_hand)
        assert _same_stats(gen.stats, res.stats) and gen.text_stats is None and res.text_stats is None
        assert gen.tensors.keys() == res.tensors.keys() == {(1, 0), (3, 2)}
        assert all(torch.equal(gen.tensors[k], res.tensors[k]) for k in res.tensors)
        assert gen.seeds is None and gen.prompts == prompts and gen.guidance == g and gen.edits == edits
    assert hooks_installed(model.transformer) == 0


def test_latents_replace_the_seeds_noise(model):
    seeded = massact.generate(model, PROMPTS[:2], seeds=[3, 4], num_steps=STEPS)
    given = massact.generate(model, PROMPTS[:2], num_steps=STEPS, latents=model.initial_noise([3, 4]))
    assert torch.equal(given.images, seeded.images) and given.seeds is None
    # from given latents the empty prompt is a caption (an uncaptioned reference's); from seeds it is refused
    empty = massact.generate(model, ["", PROMPTS[0]], num_steps=STEPS, latents=model.initial_noise([3, 4]))
    assert empty.prompts == ["", PROMPTS[0]]
    with pytest.raises(ValueError, match="empty or not a string"):
        massact.generate(model, ["", PROMPTS[0]], seeds=[3, 4], num_steps=STEPS)
    with pytest.raises(ValueError, match="unknown word 'dragon'"):
        massact.generate(model, ["", "a red dragon"], num_steps=STEPS, latents=model.initial_noise([3, 4]))
    assert hooks_installed(model.transformer) == 0
