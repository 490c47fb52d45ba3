"""The toy world: one coloured shape on a plain background, with an exact caption.

Every sample is drawn from a seed, so the same seed always gives the same image,
caption, attribute labels and foreground mask. The vocabulary is small and fixed
so that a learner can type prompts that the embedded model understands.

Grammar (words in any order; filler words optional)::

    a <size> <color> <shape> at the <position> on a <background> background

    e.g. "a large red circle at the left on a black background"

Any attribute except the shape may be left out ("a red circle"): the model was
trained with such partial captions and draws one plausible value for the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict
from functools import lru_cache
import re

import numpy as np

IMAGE_SIZE = 32

#: attribute name -> tuple of words, in label order
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "size": ("small", "large"),
    "color": ("red", "green", "blue", "yellow", "purple"),
    "shape": ("circle", "square", "triangle"),
    "position": ("left", "right", "top", "bottom", "center"),
    "background": ("black", "gray", "white"),
}
ATTRIBUTE_NAMES = tuple(ATTRIBUTES)
#: attributes a caption may omit (the shape is always named)
OPTIONAL_ATTRIBUTES = ("size", "position", "background")
FILLER_WORDS = ("a", "an", "the", "at", "on", "in", "background", "with")

OBJECT_RGB = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 80, 230),
    "yellow": (235, 210, 40),
    "purple": (150, 60, 200),
}
BACKGROUND_RGB = {"black": (15, 15, 15), "gray": (120, 120, 120), "white": (240, 240, 240)}
RADIUS = {"small": 4.5, "large": 8.5}
CENTER = {"left": (16, 9), "right": (16, 23), "top": (9, 16), "bottom": (23, 16), "center": (16, 16)}

#: the token vocabulary of the text encoder: padding, fillers, attribute words
PAD = "<pad>"
VOCABULARY: tuple[str, ...] = (PAD,) + FILLER_WORDS + tuple(w for ws in ATTRIBUTES.values() for w in ws)
WORD_TO_ID = {w: i for i, w in enumerate(VOCABULARY)}
MAX_CAPTION_TOKENS = 12
_WORD_TO_ATTRIBUTE = {w: a for a, ws in ATTRIBUTES.items() for w in ws}


def vocabulary_help() -> str:
    lines = [f"  {a}: {', '.join(ws)}" for a, ws in ATTRIBUTES.items()]
    return ("Toy-world vocabulary (a shape is required; the rest is optional):\n" + "\n".join(lines)
            + f"\n  filler words: {', '.join(FILLER_WORDS)}"
            + "\n  example: 'a large red circle at the left on a black background'")


@dataclass(frozen=True)
class Scene:
    """The attributes of one image (None = not named in the caption / free)."""

    shape: str
    color: str | None = None
    size: str | None = None
    position: str | None = None
    background: str | None = None

    def labels(self) -> dict[str, int]:
        """Attribute -> label index, for the attributes that are set."""
        return {a: ATTRIBUTES[a].index(v) for a, v in asdict(self).items() if v is not None}

    def caption(self) -> str:
        words = ["a"]
        if self.size:
            words.append(self.size)
        if self.color:
            words.append(self.color)
        words.append(self.shape)
        if self.position:
            words += ["at", "the", self.position]
        if self.background:
            words += ["on", "a", self.background, "background"]
        return " ".join(words)

    def is_complete(self) -> bool:
        return all(v is not None for v in asdict(self).values())


def parse_caption(caption: str) -> Scene:
    """Read a caption into a Scene; unknown words raise a ValueError listing the vocabulary."""
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError("empty prompt: give a caption such as 'a red circle'.\n" + vocabulary_help())
    words = re.findall(r"[a-z]+", caption.lower())
    found: dict[str, str] = {}
    for w in words:
        if w in FILLER_WORDS:
            continue
        if w not in _WORD_TO_ATTRIBUTE:
            raise ValueError(f"unknown word {w!r} in prompt {caption!r}.\n" + vocabulary_help())
        a = _WORD_TO_ATTRIBUTE[w]
        if a in found and found[a] != w:
            raise ValueError(f"prompt {caption!r} names two values for {a}: {found[a]!r} and {w!r}")
        found[a] = w
    if "shape" not in found:
        raise ValueError(f"prompt {caption!r} names no shape.\n" + vocabulary_help())
    return Scene(**found)


def tokenize(captions: list[str]) -> np.ndarray:
    """Captions -> (B, MAX_CAPTION_TOKENS) int64 word ids ("" gives all padding: the unconditional prompt)."""
    out = np.zeros((len(captions), MAX_CAPTION_TOKENS), dtype=np.int64)
    for i, c in enumerate(captions):
        if c == "":
            continue
        parse_caption(c)  # validates words and grammar
        ids = [WORD_TO_ID[w] for w in re.findall(r"[a-z]+", c.lower())]
        if len(ids) > MAX_CAPTION_TOKENS:
            raise ValueError(f"prompt {c!r} has {len(ids)} words; at most {MAX_CAPTION_TOKENS} are allowed")
        out[i, : len(ids)] = ids
    return out


def random_scene(rng: np.random.Generator, drop_prob: float = 0.0) -> tuple[Scene, Scene]:
    """A complete scene, and the scene as captioned (optional attributes dropped with drop_prob)."""
    full = Scene(**{a: ws[rng.integers(len(ws))] for a, ws in ATTRIBUTES.items()})
    # an object colour never equals the background (none of the palettes overlap)
    named = {a: v for a, v in asdict(full).items()}
    for a in OPTIONAL_ATTRIBUTES:
        if drop_prob and rng.random() < drop_prob:
            named[a] = None
    return full, Scene(**named)


def complete_scene(scene: Scene, rng: np.random.Generator) -> Scene:
    """Fill the attributes a caption left free with random values."""
    vals = asdict(scene)
    for a, ws in ATTRIBUTES.items():
        if vals[a] is None:
            vals[a] = ws[rng.integers(len(ws))]
    return Scene(**vals)


def render(scene: Scene, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Draw a complete scene: (image float32 (3,H,W) in [-1,1], mask bool (H,W)).

    The rng adds a little jitter (±1.5 px position, ±10% size, ±12 colour levels) so the
    world is not 450 fixed pictures; rng=None draws the canonical picture.
    """
    if not scene.is_complete():
        raise ValueError(f"render needs every attribute set, got {scene}")
    dy = dx = 0.0
    rscale = 1.0
    cjit = np.zeros(3)
    if rng is not None:
        dy, dx = rng.uniform(-1.5, 1.5, size=2)
        rscale = rng.uniform(0.9, 1.1)
        cjit = rng.uniform(-12, 12, size=3)
    cy, cx = CENTER[scene.position]
    cy, cx = cy + dy - 0.5, cx + dx - 0.5
    r = RADIUS[scene.size] * rscale
    # supersample 4x4 for anti-aliased edges: the mask is the >50% coverage set
    ss = 4
    coords = (np.arange(IMAGE_SIZE * ss) + 0.5) / ss - 0.5
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    y, x = yy - cy, xx - cx
    if scene.shape == "circle":
        inside = x**2 + y**2 <= r**2
    elif scene.shape == "square":
        h = r * 0.85
        inside = (np.abs(x) <= h) & (np.abs(y) <= h)
    elif scene.shape == "triangle":
        # upward equilateral-ish triangle inscribed in radius r
        top, base = -r, r * 0.75
        half_width = (y - top) / (base - top) * r
        inside = (y >= top) & (y <= base) & (np.abs(x) <= half_width)
    else:  # pragma: no cover - guarded by parse_caption
        raise ValueError(scene.shape)
    cover = inside.reshape(IMAGE_SIZE, ss, IMAGE_SIZE, ss).mean(axis=(1, 3))
    fg = np.clip(np.array(OBJECT_RGB[scene.color], dtype=np.float64) + cjit, 0, 255)
    bg = np.array(BACKGROUND_RGB[scene.background], dtype=np.float64)
    img = cover[None] * fg[:, None, None] + (1 - cover[None]) * bg[:, None, None]
    img = (img / 127.5 - 1.0).astype(np.float32)
    return img, cover > 0.5


def sample_batch(seed: int, batch_size: int, drop_prob: float = 0.0):
    """A deterministic training/evaluation batch: images (B,3,H,W), masks (B,H,W), labels (B,5), captions."""
    rng = np.random.default_rng(seed)
    imgs, masks, labels, captions = [], [], [], []
    for _ in range(batch_size):
        full, named = random_scene(rng, drop_prob)
        img, m = render(full, rng)
        imgs.append(img)
        masks.append(m)
        lab = full.labels()
        labels.append([lab[a] for a in ATTRIBUTE_NAMES])
        captions.append(named.caption())
    return np.stack(imgs), np.stack(masks), np.array(labels, dtype=np.int64), captions


def all_complete_scenes() -> list[Scene]:
    """Every complete scene of the world (2*5*3*5*3 = 450)."""
    import itertools

    return [Scene(**dict(zip(ATTRIBUTE_NAMES, vals))) for vals in itertools.product(*ATTRIBUTES.values())]


#: seed streams, kept apart so that no check is tuned on the data it reports:
#: calibration (channel ranking), evaluation (claims, report), held-out (the quality bar
#: in scripts/evaluate_toy.py, never looked at during development). The judge trains on
#: seeds >= 10_000_000 (massact/toy/train_judge.py).
CALIBRATION_SEED, EVALUATION_SEED, HELDOUT_SEED = 101, 202, 303


def caption_set(n: int, seed: int = EVALUATION_SEED) -> list[str]:
    """n complete captions drawn at random from the world (deterministic from seed)."""
    if n < 1:
        raise ValueError(f"n {n} out of range: ask for at least one caption")
    rng = np.random.default_rng(seed)
    return [random_scene(rng)[0].caption() for _ in range(n)]


@lru_cache(maxsize=1)
def _disjoint_streams() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The calibration and evaluation caption streams, disjoint by construction.

    The two seed streams draw scenes in turn (calibration draw i, then evaluation draw i);
    a caption already taken by either stream is skipped, until every complete scene of the
    world is taken. So no caption is in both streams and none repeats within one; each
    stream is prefix-consistent (the first n never depend on how many are asked for). The
    first 16 captions of each equal ``caption_set(16, CALIBRATION_SEED / EVALUATION_SEED)``
    (no draw is skipped before then), so earlier results are unchanged.
    """
    rngs = (np.random.default_rng(CALIBRATION_SEED), np.random.default_rng(EVALUATION_SEED))
    streams: tuple[list[str], list[str]] = ([], [])
    taken: set[str] = set()
    total = len(all_complete_scenes())
    while len(taken) < total:
        for rng, out in zip(rngs, streams):
            c = random_scene(rng)[0].caption()
            if c not in taken:
                taken.add(c)
                out.append(c)
    return tuple(streams[0]), tuple(streams[1])


def _stream(which: int, label: str, n) -> list[str]:
    from ..checks import check_int  # the package's validators (toy.world itself stays numpy-only for training)

    stream = _disjoint_streams()[which]
    n = check_int("n", n, 1, len(stream), what=f"the toy world's {label} stream holds {len(stream)} distinct captions")
    return list(stream[:n])


def calibration_captions(n: int) -> list[str]:
    """The first n captions of the calibration stream (channel ranking); never evaluation captions."""
    return _stream(0, "calibration", n)


def evaluation_captions(n: int) -> list[str]:
    """The first n captions of the evaluation stream (claims, report); never calibration captions."""
    return _stream(1, "evaluation", n)
