"""Notebook 03/04 controllers: activation transport, prompt interpolation, subject transfer.

    ex = TransportExplorer(model, "a large red circle at the left on a black background",
                           "a small blue square at the right on a white background", score=score)
    ex.widget                          # display it; move a control (live) or press Run
    ex.alpha.value = 0.5; ex.update()  # what Run does (tests call it directly)

Each controller holds its ipywidgets, an ``ipywidgets.Image`` (a PNG strip drawn with PIL)
and an ``ipywidgets.HTML`` with the numbers. The clean pass (and, for subject transfer, the
inversion) is computed once and reused; each update runs one batched generate call.
Hooks never outlive an update: ``generate`` / ``Tracer`` remove them even when sampling
fails, and a failure is shown in the status line.
"""
from __future__ import annotations

import html

import ipywidgets as W
import torch

from .. import readings
from ..calibration import calibrate
from ..claims import inversion as I
from ..claims import transport as T
from ..claims.use_cases import interpolation, mean_adoption
from ..clustering import upsample_mask
from ..generation import generate
from ..models import require_sampler
from ..plots.common import mask_overlay
from ..plots.transport import adoption_html
from ..ranking import ARMS
from ..selection import NAMED, Selection, parse_channels
from ..world import world_of
from .base import Explorer, block_control, channels_field, compare_control, spec, step_control


def _words(model, attrs: dict | None, i: int) -> dict[str, str]:
    """Attribute labels of image i as words, when the model's world names its attribute
    values (``world.attribute_values``: {attribute: (word, ...)}), else as label numbers."""
    if not attrs:
        return {}
    names = getattr(getattr(model, "world", None), "attribute_values", None)
    return {a: (names[a][int(v[i])] if names and a in names else str(int(v[i]))) for a, v in attrs.items()}


def _overlay(images: torch.Tensor, token_mask: torch.Tensor, grid) -> torch.Tensor:
    m = upsample_mask(token_mask.reshape(-1, *grid).numpy(), images.shape[-1])
    return torch.from_numpy(mask_overlay(images, m)).permute(0, 3, 1, 2).float() / 255


def _attribute_table(model, metrics, columns: dict[str, torch.Tensor], i: int = 0) -> str:
    """HTML: one row per attribute, one column per image set, image i of each (the judge's reading)."""
    names = list(columns)
    attrs = metrics.attributes_of(torch.cat([columns[n][i:i + 1] for n in names]))
    if not attrs:
        return ""
    words = [_words(model, attrs, j) for j in range(len(names))]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = ""
    for a in attrs:
        cells = "".join(f"<td>{html.escape(w[a])}</td>" for w in words)
        body += f"<tr><td>{html.escape(a)}</td>{cells}</tr>"
    return f"<table><tr><th>attribute (judge)</th>{head}</tr>{body}</table>"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def _captions(text: str) -> list[str]:
    """The captions of a caption field: one, or several separated by "|" (one pair each)."""
    return [c.strip() for c in text.split("|")]


class TransportExplorer(Explorer):
    """source and target captions, alpha, k, arm, blocks, steps, mask (none / source / target), named
    channels, compare arms -> source | target | output strip (one output per arm when comparing).

    sources/targets: one caption each or lists of the same length (one row per pair; the caption
    fields show them separated by "|");
    score: calibration scores (blocks, channels) (default: ``massact.calibrate(model).score()``);
    blocks / steps: the initial blocks and steps (specifications as in ``Selection``);
    named: the initial named channels ("98, 32"; "" = none); compare: start comparing the arms;
    num_steps: sampler steps (default: the model's);
    live: recompute on every control change."""

    def __init__(self, model, sources, targets, seeds=0, score: torch.Tensor | None = None,
                 k: int = T.DEFAULT_K, alpha: float = 1.0, arm: str = "top", mask: str = "none",
                 mask_at: tuple[int, int] | None = None, metrics=None, live: bool = True, run: bool = True,
                 num_steps: int | None = None, blocks="all", steps="all", named: str = "", compare: bool = False):
        sources = [sources] if isinstance(sources, str) else list(sources)
        targets = [targets] if isinstance(targets, str) else list(targets)
        T.check_pairs(sources, targets, seeds)
        model.validate_prompts(sources + targets)
        self.model = model
        self.seed_spec = seeds
        self.num_steps = num_steps or model.default_steps
        self.score = calibrate(model).score("absmean") if score is None else score
        self.metrics = model.metrics() if metrics is None else metrics
        self.mask_at = T.default_mask_at(model, self.num_steps) if mask_at is None else tuple(mask_at)
        wide = W.Layout(width="560px")
        self.source = W.Text(value=" | ".join(sources), description="source", layout=wide, continuous_update=False,
                             tooltip="the source caption (several: separated by |)")
        self.target = W.Text(value=" | ".join(targets), description="target", layout=wide, continuous_update=False,
                             tooltip="the target caption (several: separated by |, as many as sources)")
        self.alpha = W.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha", continuous_update=False)
        self.blocks = block_control(model.num_blocks, blocks)
        self.steps = step_control(self.num_steps, steps)
        self.k = W.IntSlider(value=min(k, model.width), min=1, max=model.width, description="k", continuous_update=False)
        self.arm = W.Dropdown(options=list(ARMS), value=arm, description="arm")
        self.mask = W.ToggleButtons(options=list(T.MASKS), value=mask, description="mask",
                                    tooltips=["every token", "the source's spatial mask", "the target's spatial mask"])
        self.named = channels_field()
        self.named.value = named
        self.compare = compare_control()
        self.compare.value = compare
        self.clean: T.PairRun | None = None
        self.result: T.TransportResult | None = None
        self.measure: dict | None = None
        self.measures: dict[str, dict] = {}
        self.running = "running: transport..."
        self._build([self.source, self.target, [self.alpha, self.k, self.arm], [self.blocks, self.steps], self.mask,
                     [self.named, self.compare]], live=live, run=run, history=True)

    @property
    def sources(self) -> list[str]:
        """The source captions of the source field."""
        return _captions(self.source.value)

    @property
    def targets(self) -> list[str]:
        """The target captions of the target field."""
        return _captions(self.target.value)

    def spec(self, arm: str | None = None) -> T.TransportSpec:
        """The setting the controls describe for one arm (default: the chosen arm; "named": the named channels)."""
        arm = self.arm.value if arm is None else arm
        sel = Selection(arm, None if arm == NAMED else int(self.k.value), blocks=spec(self.blocks),
                        steps=spec(self.steps), named=parse_channels(self.named.value) if arm == NAMED else ())
        return T.TransportSpec(alpha=float(self.alpha.value), mask=self.mask.value, selection=sel)

    def compute(self) -> None:
        """Transport with the current controls (every arm in one batched call when comparing); redraw the
        strip and the numbers."""
        sources, targets, seeds = T.check_pairs(self.sources, self.targets, self.seed_spec)
        self.model.validate_prompts(sources + targets)
        arms = self.arms_to_run(self.arm.value, self.compare.value, self.named.value)
        specs = [self.spec(a) for a in arms]
        if self.clean is None or (self.clean.sources, self.clean.targets) != (sources, targets):
            self.say(f"running: the clean pass of {2 * len(sources)} images, {self.num_steps} steps...")
            self.clean = T.clean_pass(self.model, sources, targets, seeds, num_steps=self.num_steps,
                                      keep=(self.mask_at,))
        self.say(f"running: {len(specs) * len(sources)} transported images, {self.num_steps} steps...")
        res = T.transport(self.model, sources, targets, seeds, specs, score=self.score, clean=self.clean,
                          mask_at=self.mask_at)
        self.result = res
        labels = [s.selection.arm_label for s in specs]
        self.measures = {label: T.measure(self.metrics, res.sources, res.targets, res.outputs[j])
                         for j, label in enumerate(labels)}
        self.measure = self.measures[labels[0]]
        alpha = specs[0].alpha
        cols, names = [res.sources, res.targets, *res.outputs], ["source", "target",
                                                                 *(f"{lb} a{alpha:g}" for lb in labels)]
        mask = specs[0].mask
        if mask != "none":
            base = res.sources if mask == "source" else res.targets
            cols.append(_overlay(base, res.masks[mask], self.model.token_grid()))
            names.append(f"{mask} mask")
        self.show_columns(cols, names)
        table = _attribute_table(self.model, self.metrics, {"source": res.sources, "target": res.targets,
                                                            **{lb: res.outputs[j] for j, lb in enumerate(labels)}})
        if len(specs) == 1:
            self.html.value = (f"<b>{html.escape(specs[0].label)}</b><br>{table}" +
                               adoption_html(self.measure, f"over {len(sources)} pair(s)"))
        else:
            rows = [(lb, _pct(mean_adoption(m)), _pct(m["target_preservation"]), m["pixel_shift"])
                    for lb, m in self.measures.items()]
            self.html.value = (f"<b>{html.escape(specs[0].label)}</b> and the other arms, over {len(sources)} pair(s)"
                               + self.table(["arm", "mean source adoption", "target preservation",
                                             "pixel shift (0 = target, 1 = source)"], rows, fmt=".2f")
                               + table)

    def record(self) -> dict:
        """The last run as a history row: the captions and settings, then each arm's mean source adoption and
        target preservation."""
        sp = self.spec()
        return {"source": self.source.value, "target": self.target.value, "alpha": sp.alpha, "k": sp.k,
                "mask": sp.mask, "blocks": "-".join(map(str, self.blocks.value)),
                "steps": "-".join(map(str, self.steps.value)),
                "source adoption": "; ".join(f"{lb} {_pct(mean_adoption(m))}" for lb, m in self.measures.items()),
                "target preservation": "; ".join(f"{lb} {_pct(m['target_preservation'])}"
                                                 for lb, m in self.measures.items())}


class InterpolationExplorer(Explorer):
    """Use case 1: a strip from the target to the source, by alpha or by the number of
    blocks, for transport and the two baselines (rows), with the numbers per point."""

    def __init__(self, model, source: str, target: str, seed: int = 0, score: torch.Tensor | None = None,
                 by: str = "alpha", points: int = 5, k: int = T.DEFAULT_K, arm: str = "top",
                 metrics=None, run: bool = True, num_steps: int | None = None):
        self.model = model
        self.num_steps = num_steps or model.default_steps
        self.score = calibrate(model).score("absmean") if score is None else score
        self.metrics = model.metrics() if metrics is None else metrics
        self.source = W.Text(value=source, description="source", layout=W.Layout(width="480px"))
        self.target = W.Text(value=target, description="target", layout=W.Layout(width="480px"))
        self.seed = W.BoundedIntText(value=seed, min=0, max=2 ** 31 - 1, description="seed", layout=W.Layout(width="180px"))
        self.by = W.ToggleButtons(options=["alpha", "blocks"], value=by, description="by")
        self.points = W.IntSlider(value=points, min=2, max=9, description="points (alpha)", continuous_update=False)
        self.k = W.IntSlider(value=min(k, model.width), min=1, max=model.width, description="k", continuous_update=False)
        self.arm = W.Dropdown(options=list(ARMS), value=arm, description="arm")
        self.mask = W.ToggleButtons(options=["none", "source"], value="none", description="mask")
        self.result: dict | None = None
        self._clean_key, self._clean = None, None
        self.running = "running: interpolation strip..."
        self._build([self.source, self.target, [self.seed, self.by, self.points], [self.k, self.arm, self.mask]],
                    run=run)

    def compute(self) -> None:
        """The strip for the current controls: one row per method, one column per point."""
        src, tgt, seed = self.source.value.strip(), self.target.value.strip(), int(self.seed.value)
        self.model.validate_prompts([src, tgt])
        key = (src, tgt, seed, self.mask.value)
        if key != self._clean_key:
            mask_at = T.default_mask_at(self.model, self.num_steps)
            self._clean = T.clean_pass(self.model, [src], [tgt], [seed], num_steps=self.num_steps,
                                       keep=(mask_at,) if self.mask.value != "none" else ())
            self._clean_key = key
        setting = T.TransportSpec(self.arm.value, int(self.k.value), mask=self.mask.value)
        res = interpolation(self.model, [src], [tgt], [seed], by=self.by.value, points=int(self.points.value),
                            spec=setting, score=self.score, metrics=self.metrics, clean=self._clean)
        self.result = res
        methods = list(res["images"])
        xs = res["x"]
        # one column per point, holding one image per method (the rows)
        cols = [torch.stack([res["images"][m][j, 0] for m in methods]) for j in range(len(xs))]
        xl = "alpha" if res["by"] == "alpha" else "blocks"
        self.show_columns(cols, [f"{xl} {x:g}" for x in xs])
        rows = "".join(f"<tr><td>{html.escape(m)}</td>" +
                       "".join(f"<td>{_pct(p['mean_adoption'])} / {_pct(p['target_preservation'])}</td>"
                               for p in res["curves"][m]) + "</tr>" for m in methods)
        head = "".join(f"<th>{xl} {x:g}</th>" for x in xs)
        self.html.value = (f"<p>rows (top to bottom): {', '.join(methods)}</p>"
                           f"<table><tr><th>method: mean source adoption / target preservation</th>{head}</tr>"
                           f"{rows}</table>")


class SubjectTransferExplorer(Explorer):
    """Use case 2: a reference (a caption the model's world renders, or an uploaded PNG)
    is inverted to noise once; each Run generates the new caption with and without the
    reference's channels. Strip: reference | reconstruction | new caption | transfer."""

    def __init__(self, model, reference: str = "a large red circle at the left on a black background",
                 caption: str = "a small blue square at the right on a white background",
                 score: torch.Tensor | None = None, k: int = T.DEFAULT_K,
                 alpha: float = 1.0, metrics=None, run: bool = True, num_steps: int | None = None):
        require_sampler(model, "subject transfer from an image")
        self.model = model
        self.num_steps = num_steps or model.default_steps
        self.score = calibrate(model).score("absmean") if score is None else score
        self.metrics = model.metrics() if metrics is None else metrics
        self.reference = W.Text(value=reference, description="reference", layout=W.Layout(width="480px"),
                                tooltip="a complete caption of the model's world; its renderer draws it")
        self.upload = W.FileUpload(accept=".png,.jpg,.jpeg", multiple=False, description="or a PNG")
        self.resize = W.Checkbox(value=True, description="resize to 32x32")
        self.use_caption = W.Checkbox(value=True, description="invert with the reference's caption")
        self.caption = W.Text(value=caption, description="new caption", layout=W.Layout(width="480px"))
        self.alpha = W.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha", continuous_update=False)
        self.k = W.IntSlider(value=min(k, model.width), min=1, max=model.width, description="k", continuous_update=False)
        self.arm = W.Dropdown(options=list(ARMS), value="top", description="arm")
        self.blocks = block_control(model.num_blocks)
        self.steps = step_control(self.num_steps)
        self.mask = W.ToggleButtons(options=["source", "none"], value="source", description="mask",
                                    tooltips=["the reference's subject mask", "every token"])
        self.inversion: I.InversionResult | None = None
        self.transfer: I.TransferResult | None = None
        self.measure: dict | None = None
        self._inv_key = None
        self.running = f"running: inversion and transfer ({self.num_steps} steps)..."
        self._build([[self.reference], [self.upload, self.resize, self.use_caption], self.caption,
                     [self.alpha, self.k, self.arm], [self.blocks, self.steps], self.mask], run=run)

    def _uploaded(self):
        """(key, PIL image) of the uploaded file, or None."""
        v = self.upload.value
        if not v:
            return None
        item = v[0] if isinstance(v, (tuple, list)) else next(iter(v.values()))  # ipywidgets 8 / 7
        import io

        from PIL import Image

        data = bytes(item["content"])
        return (item.get("name", ""), len(data), hash(data)), Image.open(io.BytesIO(data))

    def _reference(self):
        up = self._uploaded()
        if up is not None:
            key, pil = up
            img = I.load_reference(pil, resize=self.resize.value, size=self.model.height_px)
            return ("upload",) + key + (self.resize.value,), img, None
        world = world_of(self.model, "reference renderer: upload a PNG instead")
        text = self.reference.value.strip()
        try:
            imgs, caps = world.render_references(text)
        except NotImplementedError:  # no renderer (a real model's world): the model's own image of the text, seed 0
            imgs, caps = generate(self.model, [text], seeds=[0]).images, [text]
        return ("render", caps[0]), imgs, caps[0]

    def compute(self) -> None:
        """Invert the reference (when it changed), then transfer its channels into the new caption."""
        key, img, cap = self._reference()
        key = key + (self.use_caption.value,)
        if key != self._inv_key:
            self.say("inverting the reference...")
            self.inversion = I.invert_and_record(self.model, img, cap if self.use_caption.value else None,
                                                 num_steps=self.num_steps)
            self._inv_key = key
        inv = self.inversion
        setting = T.TransportSpec(self.arm.value, int(self.k.value), float(self.alpha.value), self.mask.value,
                                  blocks=spec(self.blocks), steps=spec(self.steps))
        self.say("generating...")
        tr = I.subject_transfer(self.model, inv, self.caption.value.strip(), setting, score=self.score)
        self.transfer = tr
        cols = [inv.reference, inv.reconstruction, tr.clean, tr.output]
        labels = ["reference", "reconstruction", "new caption", "transfer"]
        if tr.mask is not None:
            cols.append(_overlay(inv.reconstruction, tr.mask, self.model.token_grid()))
            labels.append("subject mask")
        self.show_columns(cols, labels)
        self.measure = I.measure_transfer(self.metrics, inv.reference, tr.clean, tr.output)
        table = _attribute_table(self.model, self.metrics, {"reference": inv.reference, "new caption": tr.clean,
                                                            "transfer": tr.output})
        self.html.value = (f"<p>{html.escape(readings.subject_transfer(inv, self.measure))}</p>{table}"
                           f"<p style='font-size:small'>{html.escape(setting.label)}; inverted with "
                           f"{'its caption' if inv.prompts[0] else 'the empty prompt'}; new caption sampled from "
                           f"the inverted noise, guidance {tr.guidance:g}</p>")
