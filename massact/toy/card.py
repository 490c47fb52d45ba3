"""Write the shipped model cards from a training run and its evaluation.

    python -m massact.toy.evaluate --weights runs/toy/toy_dit_ema.safetensors --out runs/toy/eval.json
    python -m massact.toy.card --run runs/toy --eval runs/toy/eval.json \
        --snapshots 250,500,1000,2000 --pilot runs/pilot_b --pilot runs/pilot_c

Copies the run's EMA weights into the package (and the float16 snapshots named by
--snapshots into weights/checkpoints/), and writes model_card.json (every number,
including the loss curve, the massive-ratio history measured during training and the
pilot runs' histories) and model_card.md (the same for people). ``--checkpoint-run`` ships
the run as the checkpoint series instead (weights/checkpoints/, run_card.json/.md).

``--refresh CARD.json --eval EVAL.json`` replaces a shipped card's evaluation (its run folder
need not exist) and writes its markdown again; ``--side-by-side LABEL=EVAL.json`` (repeatable)
adds the other toy models' evaluations to the card's side-by-side table.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from safetensors import safe_open

from .model import WEIGHTS_DIR
from .pipeline import TOY_MODELS


PILOT_STEPS = (250, 500, 750, 1000)


def summarise_history(path: Path, every: int = 50) -> dict:
    loss, massive = [], []
    buf = []
    # a resumed run re-logs the steps after its last checkpoint: keep the last record of each step
    records = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        records[r["step"]] = r
    for _, r in sorted(records.items()):
        buf.append(r["loss"])
        if r["step"] % every == 0:
            loss.append({"step": r["step"], "loss": round(sum(buf) / len(buf), 5), "wall_s": r["wall_s"]})
            buf = []
        if "massive" in r:
            massive.append({"step": r["step"], "blocks": [
                {k: (round(v, 3) if isinstance(v, float) else v) for k, v in m.items()} for m in r["massive"]]})
    return {"loss": loss, "massive": massive}


def best_ratio_by_step(hist: dict) -> dict[int, float]:
    return {m["step"]: max(b["top1_over_median_absmean"] for b in m["blocks"]) for m in hist["massive"]}


def pilot_summary(run: Path) -> dict:
    """A pilot run's recipe and its best-block ratio history (for the comparison table)."""
    import torch

    ck = torch.load(run / "checkpoint.pt", weights_only=False, map_location="cpu")
    hist = summarise_history(run / "history.jsonl")
    a = ck["args"]
    return {"run": run.name, "width": a["heads"] * a["head_dim"], "blocks": a["double"] + a["single"],
            "lr": a["lr"], "weight_decay": a.get("weight_decay", 0.0), "batch": a["batch"], "steps": ck["step"],
            "cpu_minutes": round(ck["wall"] / 60, 1), "threads": a["threads"],
            "ratio": {str(k): round(v, 2) for k, v in best_ratio_by_step(hist).items()}}


def render(card: dict, checkpoint_run: bool) -> str:
    """The card's markdown, from its JSON alone.

    Args:
        card: a card's JSON (``model_card.json`` or ``checkpoints/run_card.json``).
        checkpoint_run: whether it is the checkpoint series' run card.
    Returns:
        the markdown text.
    """
    ev, args, hist = card["evaluation"], card["training_args"], card["history"]
    shipped = card.get("checkpoints", [])
    acc = ev["caption_accuracy"]
    size, patch = card["config"]["image_size"], card["config"]["patch"]
    width = card["config"]["num_attention_heads"] * card["config"]["attention_head_dim"]
    ratio = {m["step"]: f"{max(b['top1_over_median_absmean'] for b in m['blocks']):.1f}" for m in hist["massive"]}
    by_step = best_ratio_by_step(hist)
    name = card.get("name") or ("toy-256" if checkpoint_run else "toy")
    lines = [
        (f"# massact toy DiT, width {width} (`massact.load(\"{name}\")`) — the checkpointed training run"
         if checkpoint_run else "# massact toy DiT — model card"), "",
        *([f"This run ships as a series of float16 checkpoints for the claims-across-training view "
           f"(`massact.load(\"{name}\", checkpoint=STEP)`); its last "
           f"step is the named model `massact.load(\"{name}\")`. It is not the default toy model "
           "(`massact.load(\"toy\")`, see ../model_card.md).", ""] if checkpoint_run else []),
        "A tiny text-to-image diffusion transformer built from diffusers' `FluxTransformer2DModel` "
        f"({card['config']['num_double_layers']} double-stream + {card['config']['num_single_layers']} single-stream "
        f"blocks, width {width}) with a jointly trained 2-layer text encoder, trained on the "
        f"procedural toy world (`massact.toy.world`). Pixel space: {size}x{size} RGB in {patch}x{patch} patches = "
        f"{(size // patch) ** 2} image tokens ({size // patch}x{size // patch} grid).", "",
        f"- config: `{json.dumps(card['config'])}`",
        f"- training: {card['steps']} steps, batch {args['batch']}, lr {args['lr']} (warm-up {args['warmup']}, "
        f"linear decay to 10% from {args['decay_start']:.0%} of the run), weight decay "
        f"{args.get('weight_decay', 0.0)}, EMA {args['ema']}, seed "
        f"{card['seed']}, {card['train_minutes']} min on a 2-core CPU",
        f"- reproduce: `python -m massact.toy.train --out runs/{name} --steps {card['steps']} --seed {card['seed']} --heads "
        f"{card['config']['num_attention_heads']} --head-dim {card['config']['attention_head_dim']} --lr {args['lr']}"
        + (f" --weight-decay {args['weight_decay']}" if args.get("weight_decay") else "")
        + (f" --snapshots {','.join(str(c['step']) for c in shipped[:-1])}" if len(shipped) > 1 else "")
        + "` (resumable; `--device cuda` trains the same recipe on a GPU)", "",
        *([f"- note: {n}" for n in card.get("notes", [])] + [""] if card.get("notes") else []),
        "## Training curve (loss averaged over 50 steps; massive ratio of the EMA model at t = 0.5)", "",
        "| step | loss | best block top1/median abs-mean |", "|---|---|---|",
        *[f"| {r['step']} | {r['loss']:.4f} | {ratio.get(r['step'], '')} |" for r in hist["loss"]
          if r["step"] % 250 == 0 or r["step"] == card["steps"]], "",
    ]
    if card.get("pilots"):
        lines += [
            "## Ratio growth at equal steps (best block top1/median abs-mean of the EMA model, t = 0.5)", "",
            "| run | width | blocks | lr | weight decay | " + " | ".join(f"step {s}" for s in PILOT_STEPS)
            + " | CPU-min (steps, threads) |",
            "|---|---|---|---|---|" + "---|" * len(PILOT_STEPS) + "---|",
            *[f"| {q['run']} | {q['width']} | {q['blocks']} | {q['lr']} | {q['weight_decay']} | "
              + " | ".join(str(q["ratio"].get(str(s), "")) for s in PILOT_STEPS)
              + f" | {q['cpu_minutes']} ({q['steps']}, {q['threads']}) |" for q in card["pilots"]],
            f"| this run | {width} | {card['config']['num_double_layers'] + card['config']['num_single_layers']} | "
            f"{args['lr']} | {args.get('weight_decay', 0.0)} | "
            + " | ".join(f"{by_step.get(s, float('nan')):.2f}" for s in PILOT_STEPS)
            + f" | {card['train_minutes']} ({card['steps']}, {args['threads']}) |", "",
            "CPU minutes are wall time on a shared 2-core machine (other work ran beside some of these runs), so compare "
            "ratios at equal steps rather than per minute across rows.", ""]
    lines += [
        f"## Checkpoints shipped (`massact.load(\"{name}\", checkpoint=STEP)`)",
        "", "| step | file | dtype | MB | best-block ratio during training |", "|---|---|---|---|---|",
        *[f"| {c['step']} | {c['file']} | {c['dtype']} | {c['megabytes']} | "
          f"{by_step.get(c['step'], float('nan')):.1f} |" for c in shipped], "",
        "## Evaluation (held-out captions and seeds; `python -m massact.toy.evaluate`)", "",
        "| attribute | accuracy |", "|---|---|",
        *[f"| {k} | {v:.3f} |" for k, v in acc.items()], "",
        f"- toy FID (judge features, {ev['num_fid_images']} generated vs real images): {ev['toy_fid']}",
        f"- batch of 16 at the default steps: {ev['batch16_seconds']} s ({ev['torch_threads']} threads)",
        f"- quality bar of the default model: {json.dumps(ev['bar'])}", "",
        "## Massive channels (image stream, 16 held-out prompts, all steps)", "",
        "| block | top channels | top1/median abs-mean | top5/median abs-mean | top1/median mean-abs | max/median "
        "| top-1 share of squared norm |",
        "|---|---|---|---|---|---|---|",
        *[f"| {r['block']} | {r['top_channels']} | {r['top1_over_median_absmean']:.1f} | "
          f"{r['top5_over_median_absmean']:.1f} | {r['top1_over_median_meanabs']:.1f} | {r['max_over_median']:.1f} "
          f"| {r['energy_share_top1']:.0%} |" if "energy_share_top1" in r else
          f"| {r['block']} | {r['top_channels']} | {r['top1_over_median_absmean']:.1f} | "
          f"{r['top5_over_median_absmean']:.1f} | {r['top1_over_median_meanabs']:.1f} | {r['max_over_median']:.1f} | |"
          for r in ev["massive"]], "",
        "Nothing plants these values: default diffusers initialisation, plain MSE loss. The ratio measured during "
        f"training (t = 0.5, 8 probe prompts) is in {'run_card' if checkpoint_run else 'model_card'}.json under "
        "history.massive.", "",
    ]
    if "top1_signature" in ev:
        sig = ev["top1_signature"]
        lines += ["## Does the model need its largest channel? (the FLUX-like signature)", "",
                  f"Measured by `massact reproduce --model {name}` (its massive section: {sig['n']} images at "
                  f"{sig['num_steps']} sampler steps, the critical probe's images and calibration):", "",
                  sig["reading"], ""]
    if card.get("side_by_side"):
        lines += side_by_side_lines(card["side_by_side"])
    if card.get("discussion"):
        lines += [card["discussion"].strip(), ""]
    return "\n".join(lines) + "\n"


def _iv(s: dict, spec: str) -> str:
    return f"{s['mean']:{spec}} [{s['ci'][0]:{spec}}, {s['ci'][1]:{spec}}]"


def side_by_side_lines(evals: dict[str, dict]) -> list[str]:
    """A markdown table of several toy models' evaluations.

    Args:
        evals: label -> ``evaluate`` dict (with ``top1_signature`` where measured), in column order.
    Returns:
        the section's markdown lines.
    """
    labels = list(evals)
    attrs = [k for k in next(iter(evals.values()))["caption_accuracy"]]

    def row(name, f):
        return f"| {name} | " + " | ".join(f(evals[lb]) for lb in labels) + " |"

    def best(ev):
        return max(ev["massive"], key=lambda r: r["top1_over_median_absmean"])

    def sig(ev, key, spec):
        s = ev.get("top1_signature", {})
        return _iv(s[key], spec) if key in s else "n/a"

    return ["## Side by side (the same protocol for every model)", "",
            "| | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels),
            row("best block: top-1/median abs-mean", lambda e: f"{best(e)['top1_over_median_absmean']:.1f} "
                f"(block {best(e)['block']}, channel {best(e)['top_channels'][0]})"),
            row("top-1 share of a token's squared norm (best block)",
                lambda e: f"{best(e)['energy_share_top1']:.0%}" if "energy_share_top1" in best(e) else "n/a"),
            *[row(f"caption accuracy: {a}", lambda e, a=a: f"{e['caption_accuracy'][a]:.3f}") for a in attrs],
            row("toy FID", lambda e: f"{e['toy_fid']:.1f}"),
            row("batch of 16, default steps (s)", lambda e: f"{e['batch16_seconds']:.2f}"),
            row("top-1 zeroed: caption-accuracy drop", lambda e: sig(e, "caption_accuracy_zero", ".3f")),
            row("top-1 mean-set: caption-accuracy drop", lambda e: sig(e, "caption_accuracy_mean", ".3f")),
            row("top-1 zeroed: pixel MSE to clean", lambda e: sig(e, "pixel_mse_zero", ".4f")),
            row("top-1 mean-set: pixel MSE to clean", lambda e: sig(e, "pixel_mse_mean", ".4f")),
            "", "Ratios, accuracy, FID and speed: `python -m massact.toy.evaluate` (held-out captions and seeds). "
            "Top-1 rows: `massact reproduce`'s massive section (`massact.claims.critical.top1_ablation`: each block's "
            "top-1 channel at every block and step, zeroed or set to its calibration mean, paired over the same "
            "images with 95% bootstrap intervals).", ""]


def shipped_series(name: str) -> list[dict]:
    """The checkpoints a toy model ships along its run, read from the package's files.

    Args:
        name: "toy" or "toy-256".
    Returns:
        one dict per step: step, file (relative to the card's folder), dtype, megabytes.
    """
    from safetensors import safe_open

    from .checkpoints import SERIES_DIRS, available, path_for

    out = []
    for step in available(name):
        p = path_for(step, name)
        with safe_open(str(p), "pt") as f:
            dtype = str(f.get_slice(next(iter(f.keys()))).get_dtype()).lower()
        base = SERIES_DIRS[name] if name == "toy-256" else WEIGHTS_DIR
        out.append({"step": step, "file": str(p.relative_to(base)),
                    "dtype": {"f16": "float16", "f32": "float32"}.get(dtype, dtype),
                    "megabytes": round(p.stat().st_size / 2 ** 20, 1)})
    return out


def with_signature(eval_path: str, results_path: str | None) -> dict:
    """An evaluation JSON, with the top-1 ablation of a ``massact reproduce`` results.json when given.

    Args:
        eval_path: a ``python -m massact.toy.evaluate --out`` file.
        results_path: a ``massact reproduce`` results.json of the same model, or None.
    Returns:
        the evaluation dict (``top1_signature`` added from the results' massive section).
    """
    ev = json.loads(Path(eval_path).read_text())
    if results_path:
        massive = json.loads(Path(results_path).read_text())["massive"]
        if "top1_ablation" not in massive:
            raise ValueError(f"{results_path} has no massive.top1_ablation: run `massact reproduce` with its massive "
                             "section")
        ev["top1_signature"] = massive["top1_ablation"]
    return ev


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default="runs/toy")
    p.add_argument("--eval", required=True)
    p.add_argument("--snapshots", default="", help="comma-separated snapshot steps to ship as checkpoints")
    p.add_argument("--pilot", action="append", default=[], help="a pilot run folder for the comparison table")
    p.add_argument("--note", action="append", default=[], help="a line for the card's training notes")
    p.add_argument("--checkpoint-run", action="store_true",
                   help="ship this run as the checkpoint series only (weights/checkpoints/ and its run_card), "
                        "leaving the shipped final weights and model_card as they are")
    p.add_argument("--name", default=None, choices=TOY_MODELS,
                   help="the name massact.load gives this model (default: toy-256 for --checkpoint-run, else toy)")
    p.add_argument("--signature", default=None, metavar="RESULTS.json",
                   help="a `massact reproduce` results.json of this model: its massive section's top-1 ablation")
    p.add_argument("--reference-card", default=None,
                   help="an earlier model_card.json whose ratio history joins the comparison (e.g. width 128)")
    p.add_argument("--refresh", default=None, help="a shipped card JSON: replace its evaluation, rewrite its markdown")
    p.add_argument("--side-by-side", action="append", default=[], metavar="LABEL=EVAL.json[:RESULTS.json]",
                   help="another model's evaluation (and its reproduce results, for the top-1 ablation) for the "
                        "side-by-side table (repeatable)")
    p.add_argument("--discussion", default=None, help="a markdown file: the card's closing discussion, kept in its JSON")
    a = p.parse_args(argv)
    ev = with_signature(a.eval, a.signature)
    discussion = Path(a.discussion).read_text() if a.discussion else None
    others = {}
    for item in a.side_by_side:
        label, _, paths = item.partition("=")
        ev_path, _, results = paths.partition(":")
        others[label] = with_signature(ev_path, results or None)
    if a.refresh:
        path = Path(a.refresh)
        card = json.loads(path.read_text())
        checkpoint_run = path.stem == "run_card"
        card["name"] = a.name or card.get("name") or ("toy-256" if checkpoint_run else "toy")
        card["evaluation"] = ev
        card["checkpoints"] = shipped_series(card["name"])
        if others:
            card["side_by_side"] = {card["name"]: ev, **others}
        if discussion is not None:
            card["discussion"] = discussion
        path.write_text(json.dumps(card, indent=1))
        path.with_suffix(".md").write_text(render(card, checkpoint_run=checkpoint_run))
        print(f"refreshed {path} and its markdown")
        return
    run = Path(a.run)
    weights = run / "toy_dit_ema.safetensors"
    with safe_open(str(weights), "pt") as f:
        meta = f.metadata()
    import torch

    args = torch.load(run / "checkpoint.pt", weights_only=False, map_location="cpu")["args"]
    args["out"] = Path(args["out"]).name  # the run folder's name only: no machine paths in the package
    hist = summarise_history(run / "history.jsonl")
    card = {
        "model": "massact toy DiT (diffusers FluxTransformer2DModel + 2-layer text encoder), pixel space 32x32",
        "name": a.name or ("toy-256" if a.checkpoint_run else "toy"),
        "config": json.loads(meta["config"]),
        "steps": json.loads(meta["steps"]),
        "train_minutes": json.loads(meta["train_minutes"]),
        "seed": json.loads(meta["seed"]),
        "training_args": args,
        "objective": "rectified flow, v = eps - x0, logit-normal t, 10% caption dropout, EMA weights",
        "evaluation": ev,
        "history": hist,
    }
    pilots = [pilot_summary(Path(r)) for r in a.pilot]
    if a.reference_card:
        ref = json.loads(Path(a.reference_card).read_text())
        rc, ra = ref["config"], ref["training_args"]
        pilots.append({"run": "default toy model (width 128)", "width": rc["num_attention_heads"] * rc["attention_head_dim"],
                       "blocks": rc["num_double_layers"] + rc["num_single_layers"], "lr": ra["lr"],
                       "weight_decay": ra.get("weight_decay", 0.0), "batch": ra["batch"], "steps": ref["steps"],
                       "cpu_minutes": ref["train_minutes"], "threads": ra["threads"],
                       "ratio": {str(k): round(v, 2) for k, v in best_ratio_by_step(ref["history"]).items()}})
    card["pilots"] = pilots
    card["notes"] = list(a.note)
    if others:
        card["side_by_side"] = {card["name"]: ev, **others}
    if discussion is not None:
        card["discussion"] = discussion
    WEIGHTS_DIR.mkdir(exist_ok=True)
    ckpt_dir = WEIGHTS_DIR / "checkpoints"
    out_dir, card_name, prefix = (ckpt_dir, "run_card", "") if a.checkpoint_run else (WEIGHTS_DIR, "model_card",
                                                                                        "checkpoints/")
    if not a.checkpoint_run:
        shutil.copy(weights, WEIGHTS_DIR / "toy_dit.safetensors")
    shipped = []
    if a.snapshots or a.checkpoint_run:
        ckpt_dir.mkdir(exist_ok=True)
        for old in ckpt_dir.glob("toy_dit_step*.safetensors"):
            old.unlink()
        for st in [int(x) for x in a.snapshots.split(",") if x.strip()]:
            src = run / "snapshots" / f"toy_dit_step{st:05d}.safetensors"
            shutil.copy(src, ckpt_dir / src.name)
            shipped.append({"step": st, "file": f"{prefix}{src.name}", "dtype": "float16",
                            "megabytes": round(src.stat().st_size / 2 ** 20, 1)})
    if a.checkpoint_run:  # the run's final EMA weights join the series, in float16 like the others
        from .model import load_weights, save_weights

        final = ckpt_dir / f"toy_dit_step{card['steps']:05d}.safetensors"
        save_weights(load_weights(weights).half(), final, {"steps": card["steps"], "train_minutes":
                                                           card["train_minutes"], "seed": card["seed"],
                                                           "dtype": "float16"})
        shipped.append({"step": card["steps"], "file": final.name, "dtype": "float16",
                        "megabytes": round(final.stat().st_size / 2 ** 20, 1)})
    else:
        shipped.append({"step": card["steps"], "file": "toy_dit.safetensors", "dtype": "float32",
                        "megabytes": round((WEIGHTS_DIR / "toy_dit.safetensors").stat().st_size / 2 ** 20, 1)})
    card["checkpoints"] = shipped
    (out_dir / f"{card_name}.json").write_text(json.dumps(card, indent=1))
    (out_dir / f"{card_name}.md").write_text(render(card, a.checkpoint_run))
    print(f"wrote {out_dir}/{card_name}.md and {card_name}.json")


if __name__ == "__main__":
    main()
