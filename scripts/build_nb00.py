"""Writes notebooks/00_massive_activations.ipynb (edit here, then run this script).

The first cell is nbtools.SETUP; the exercise cells come from massact.exercises; cell ids
(and the stored outputs of checked cells) of unchanged cells are kept."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from nbtools import SETUP, build  # noqa: E402

from massact.exercises import for_notebook  # noqa: E402

import nbformat  # noqa: E402

IGN = ["nbval-ignore-output"]
CHK = ["nbval-check-output"]
cells = [
    ("md", "# 00 · Massive activations: which few channels stand out, and by how much?\n\n"
           "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/massact/massact/blob/main/notebooks/00_massive_activations.ipynb) "
           "[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/massact/massact/main?labpath=notebooks/00_massive_activations.ipynb)\n\n"
           "A diffusion transformer (DiT) turns noise into an image by passing a sequence of *tokens* (one per image "
           "patch, plus text tokens) through a stack of blocks, many times (once per denoising step). Each token is a "
           "vector of *channels*. **Massive activations** are a handful of channels whose values are consistently far "
           "larger than all the others (Sun et al. 2024 found them in language models; the paper *Few Channels Draw The "
           "Whole Picture*, arXiv:2605.13974, studies them in DiTs such as FLUX).\n\n"
           "This notebook finds them in a live model: massact's embedded **toy DiT**, a tiny `FluxTransformer2DModel` "
           "trained on a world of coloured shapes. It runs on a laptop CPU in under a minute of compute, every cell included: "
           "nothing needs skipping."),
    ("code", SETUP, IGN),
    ("md", "### Glossary\n\nThe words these notebooks use, each with one meaning:\n\n"
           "* **block**: one transformer block, numbered from 0 in the order it runs. The paper says \"layer\".\n"
           "* **image stream**: the tokens of the image being generated, one per patch. Text tokens and the tokens of "
           "a reference image are not part of it.\n"
           "* **channel**: one coordinate of a token's vector. The toy has 128 channels per token (`model.width`).\n"
           "* **step**: a *denoising* step, numbered from 0 (pure noise) to `num_steps - 1` (the finished image). "
           "`num_steps` is a count, `steps` are indices. In §7 of this notebook and the last section of notebook 04, "
           "\"training step\" means a step of the toy's *training*.\n"
           "* **|mean|** (key `absmean`): for each channel, take the mean over the image tokens, then the absolute "
           "value. This is the paper's statistic. **mean |x|** (key `meanabs`) takes the absolute values first. §6 "
           "shows where they differ.\n"
           "* **massive set**: the channels of a block whose |mean| (averaged over prompts, seeds and steps) is at "
           "least 10 times that of the block's median channel; also counted at 100 times, to compare with the "
           "~1,000x of large models.\n"
           "* **k**: how many channels per block an edit touches. k = 8 is 6% of the toy's 128 channels. The paper's "
           "regime is a handful out of thousands.\n"
           "* **arm**: which k channels are taken: **top** (largest statistic), **bottom** (smallest) or **random** "
           "(a seeded draw). The bottom and random arms are the controls.\n"
           "* **item**: the unit an interval resamples. That is an image, or a caption pair for transport.\n"
           "* **attribute groups**: the toy's captions name a shape, colour, position, size and background. Notebook "
           "01 groups the attributes by what breaks: shape/position, colour, background/size. Notebook 03 groups them "
           "by what moves: layout (position, size), identity (shape, colour), background.\n"
           "* **[a, b]**: a 95% interval. *How to read [a, b]* in notebook 01 explains it.\n"
           "* **predict, then measure**: every notebook asks you, before one of its sections, to predict what it "
           "will find (`PREDICTION = ...`); a checker then measures it on the live model in seconds and says "
           "whether you were right, and why."),
    ("md", "## 1 · The toy world and its model\n\nEvery image is one shape on a plain background, described by a "
           "caption from a small vocabulary. Because the world is procedural, we know the exact truth of every "
           "image (attributes and the shape's mask): later notebooks use that to *measure* each claim."),
    ("code", "print(model.world.vocabulary_help())", CHK),
    ("code", "print(f\"{model.num_blocks} blocks, {model.width} channels, {model.num_image_tokens} image tokens "
             "(a {model.token_grid()} grid)\")\nfor b in model.blocks:\n    print(b.index, b.name)", CHK),
    ("code", "from massact.plots import image_grid\n"
             "prompts = model.world.evaluation_prompts(8)\n"
             "gen = massact.generate(model, prompts, seeds=list(range(8)), capture=True)\n"
             "image_grid(gen.images, titles=[p.replace(' background', '').replace('a ', '', 1) for p in prompts], cols=4,\n"
             "           title=f'Generated by {model.name} ({gen.num_steps} steps)')", IGN),
    ("md", "## 2 · What was captured\n\n`capture=True` streamed, for every block and every denoising step, three "
           "statistics of each channel over the image tokens: **absmean** = |mean over tokens| (the paper's score), "
           "**meanabs** = mean of |x|, **maxabs** = max |x|. Nothing of size *tokens* was kept, so this scales to FLUX."),
    ("code", "print('absmean tensor: (prompts, blocks, steps, channels) =', gen.stats.shape)", CHK),
    ("md", "Massive activations are exactly the values float16 cannot hold: its largest number is 65,504, and FLUX's "
           "top channels reach about 90,000. On a card without bfloat16 (a free Colab T4) a real model runs in "
           "float16, where diffusers clips FLUX's hidden states to +-65,504 and larger values overflow: the "
           "statistics would then rank capped numbers. massact checks every float16 capture and says which blocks "
           "and channels sat at the limit (a `SaturationWarning` too). The toy runs in float32:"),
    ("code", "print(gen.stats.saturation().text())", CHK),
    ("md", "## 3 · A few channels stand out\n\nFor each block, rank channels by the paper's score and compare the top "
           "channel to the *median* channel. Sun et al. call an activation massive when it is around 1000x the median; "
           "in a tiny model trained for an hour on a CPU we should expect smaller ratios — the point is the *shape*: a handful "
           "of spikes over a flat floor."),
    ("code", "from massact.plots import block_ratios, channel_profile\n"
             "rows = gen.stats.ratio_table()\n"
             "for r in rows:\n"
             "    print(f\"block {r['block']}: top channels {r['top_channels']}  top1/median |mean| {r['top1_over_median_absmean']:6.1f}  \"\n"
             "          f\"top5/median {r['top5_over_median_absmean']:5.1f}  max|x|/median {r['max_over_median']:6.1f}\")\n"
             "from massact import readings\n"
             "print(readings.massive_set(rows))   # the massive set: channels >= 10x the block's median by |mean|\n"
             "block_ratios(rows)", IGN),
    ("code", "best = max(rows, key=lambda r: r['top1_over_median_absmean'])\n"
             "score = gen.stats.score('absmean')\n"
             "channel_profile(score[best['block']], title=f\"block {best['block']}: |mean| per channel, averaged over prompts and steps\")", IGN),
    ("code", "# the headline, rounded: the test suite compares this cell's output with the stored one, so a regression shows\n"
             "print(f\"headline: strongest block {best['block']}: channel {best['top_channels'][0]} at \"\n"
             "      f\"{best['top1_over_median_absmean']:.0f}x the block's median channel\")", CHK),
    ("md", "## 4 · Over denoising steps\n\nAre the same channels massive at every step, from pure noise (step 0) to "
           "the finished image? (Gan et al. 2025 argue that massive activations are driven by the *timestep*.)"),
    ("code", "from massact.plots.massive import over_steps, over_prompts\n"
             "top3 = best['top_channels'][:3]\n"
             "over_steps(gen.stats, best['block'], top3)", IGN),
    ("md", "Published analyses of SD3, SD3.5 and FLUX report the massive channel *growing* as the image forms (t -> 0). "
           "The timestep profile follows the block's top channel step by step: its |mean| and how far it stands "
           "above that step's median channel."),
    ("code", "from massact.plots.massive import step_profile_figure\n"
             "profile = gen.stats.step_profile()\n"
             "print(readings.step_profile(profile, best['block']))\n"
             "step_profile_figure(profile, best['block'])", IGN),
    ("md", "## 5 · Over prompts\n\nThe paper says the massive channels carry the prompt's semantics. Are they the "
           "*same* channels for every prompt? Each row is a prompt; each column a channel; colour = ratio to that "
           "prompt's median channel."),
    ("code", "over_prompts(gen.stats, best['block'], prompts)", IGN),
    ("md", "What *is* a massive channel? Split each top channel's values into a constant **offset** and changes over "
           "**steps**, **prompts**, **seeds** and **tokens** (shares of its mean square; what is left is how they "
           "combine, the **interaction**). A channel that is mostly offset is a bias: moving it from one prompt's run "
           "into another's cannot carry the prompt, and zeroing it tests how much the network relies on a constant. "
           "The median channel is shown for comparison."),
    ("code", "from massact.claims.channels import SOURCES, decompose_top\n"
             "has_attributes = bool(getattr(model.world, 'attributes', ()))\n"
             "# the top 4 channels and the median one, on 16 prompts x 2 seeds (as make demo's report)\n"
             "parts = decompose_top(model, model.world.evaluation_prompts(16), seeds=[0, 1], block=best['block'],\n"
             "                      scores=score[best['block']], attributes=has_attributes)\n"
             "for r in parts:\n"
             "    name = 'median' if r['median'] else f\"#{r['rank']}\"\n"
             "    print(f\"block {best['block']}, channel {r['channel']:3d} ({name}, {r['ratio_to_median']:.0f}x the median): \"\n"
             "          + \", \".join(f\"{k} {r[k]:.0%}\" for k in SOURCES))", IGN),
    ("md", "What does a channel's variation across prompts follow? Group the prompts by one attribute (say the "
           "background colour) and ask how much of the spread of the channel's per-prompt means (averaged over seeds, "
           "steps and tokens) the groups explain: **eta²**, from 0 (nothing) to 1 (the attribute fixes the mean). "
           "With few prompts, groups explain some spread by luck: **chance** is the eta² expected of a channel the "
           "attribute does not affect, (values - 1) / (prompts - 1); the reading skips an attribute whose chance is high "
           "(too few prompts per value). A channel that varies mostly across prompts, with one attribute well above chance, is a code for that "
           "attribute."),
    ("code", "from massact.plots.massive import decomposition_figure\n"
             "if has_attributes:\n"
             "    print('chance:', {a: round(c, 2) for a, c in parts[0]['attribute_chance'].items() if c is not None})\n"
             "    for r in parts:\n"
             "        print(f\"channel {r['channel']:3d} eta^2: \" + \", \".join(f\"{a} {v:.2f}\" for a, v in r['attribute_shares'].items()\n"
             "                                                     if v is not None))\n"
             "else:\n"
             "    print(f'{model.name} has no world that names attributes: only the shares above.')\n"
             "print(readings.decomposition(parts, best['block']))\n"
             "decomposition_figure(parts, best['block'])", IGN),
    ("code", "import torch\n"
             "per_prompt = gen.stats.absmean[:, best['block']].nanmean(1)   # (prompts, channels)\n"
             "pooled_top = set(score[best['block']].topk(5).indices.tolist())\n"
             "overlap = [len(pooled_top & set(p.topk(5).indices.tolist())) / 5 for p in per_prompt]\n"
             "print(f'top-5 overlap of each prompt with the pooled top-5 at block {best[\"block\"]}:', [round(o, 2) for o in overlap])\n"
             "print('reading:', 'the massive channels are (nearly) prompt-independent' if min(overlap) >= 0.6 else\n"
             "      'the top channels change with the prompt')", IGN),
    ("md", "## 6 · Two definitions, two rankings\n\nThe authors take the mean first, then the absolute value; a public "
           "reproduction used mean |x|. A channel that swings positive on the object and negative on the background "
           "has a small |mean| but a large mean |x|. How much do the two rankings agree?"),
    ("code", "from massact.ranking import agreement\n"
             "for k in (1, 5, 10):\n"
             "    print(f'top-{k} agreement per block (absmean vs meanabs):',\n"
             "          [round(a, 2) for a in agreement(gen.stats.score('absmean'), gen.stats.score('meanabs'), k)])", IGN),
    ("md", "## 7 · They grow during training\n\nNothing in the toy model was planted: default initialisation, plain "
           "loss. The training script measured the ratio of the EMA weights every 250 steps; here is how it grew."),
    ("code", "from massact.plots.massive import training_growth\n"
             "if hasattr(model, 'card'):\n    display(training_growth(model.card))\n"
             "else:\n    print('This model has no training history (only the toy ships one).')", IGN),
    ("md", "*The claims across training* (does each claim's effect grow as these channels grow during training?) "
           "is the last section of [notebook 04](04_use_cases.ipynb): it uses the arms, mIoU, adoption and paired "
           "intervals that notebooks 01–03 introduce."),
    ("md", "## 8 · Explore\n\nPick the blocks, the denoising steps (each a from..to range: the whole range of steps "
           "is the statistic over the run, a range of blocks their mean profile) and a statistic."),
    ("code", "from massact.widgets.massive import MassiveExplorer\n"
             "explorer = MassiveExplorer(model, prompts[:4], seeds=0)\nexplorer.widget", IGN),
    ("md", "**Next:** [01 · critical](01_critical.ipynb) — are these few channels necessary for the image?"),
]
# the exercises (their text lives in massact.exercises.massive): each before the cell its `before` names
# (a prediction, before the section that measures it), else before the closing "Next:" pointer
for e in for_notebook("00_massive_activations"):
    at = next((i for i, c in enumerate(cells) if c[1].startswith(e.before)), None) if e.before else len(cells) - 1
    if at is None:
        raise SystemExit(f"{e.checker}: no cell starts with {e.before!r} to place it before")
    cells[at:at] = [("md", e.markdown()), ("code", e.starter, IGN)]
PATH = Path(__file__).parent.parent / "notebooks" / "00_massive_activations.ipynb"
if __name__ == "__main__":
    nbformat.write(build(cells, keep_ids_from=PATH), PATH)
    print("wrote notebooks/00_massive_activations.ipynb")
