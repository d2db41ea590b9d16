"""How well do a backbone's frozen features tell the 8 box findings apart? A linear probe.

The classification AUC between the eight findings has stayed near 0.56 for every fine-tuned
Lite0 recipe, while the VMamba distilled from ImageNet features reached 0.63 (MODEL_CARD.md
table (7)). This asks the features directly: each backbone's pooled last-stage features (the
tensor the CAM head reads, as `Predictor.ood_descriptors` returns them) are computed once for
the layout's training images and both halves of nih-val, then a multinomial logistic regression
(standardised features, L2) is fitted on the training (image, finding) samples, its L2 weight
chosen by the selection half's mean AUC and scored on the report half, the way sr-core-eval
scores a model (one-vs-rest AUC per finding over the images, each labelled with all the findings
it has boxes for).

    python benchmarks/linear_probe.py --select .data/layouts/select --report .data/layouts/report \
        --backbone lite0-imagenet --backbone weights:resources/weights/sr_efficientnet_lite0.safetensors \
        --backbone nano-random --backbone nano-init:.data/distilled/sr_vmamba_nano.safetensors

Backbones: `lite0-imagenet` / `lite2-imagenet` (sr_efficientnet_lite0 / lite2 from the ImageNet
file, nothing trained), `nano-random` (sr_vmamba_nano at its random init, seed 0),
`nano-init:PATH` (sr_vmamba_nano from a backbone file, e.g. `sr-core-train distill`'s),
`weights:PATH` (a trained weights file's own backbone). `--input-size` sets the side the images
are resized to (256 unless given). CPU by default; features are cached per backbone and size
under --cache.

`--fractions 0.25 0.5` adds a learning curve: the same probe fitted on random subsets of the
training images (each image with all its samples; `--subsets` draws a fraction, seeded), the
L2 weight chosen on the selection half each time. How the AUC grows with the number of labelled
images says how far more labels of this kind would take it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sr_core.data.datasets import FolderDataset  # noqa: E402
from sr_core.evaluation.metrics import classification_report  # noqa: E402
from sr_core.io import read_image  # noqa: E402
from sr_core.models import create_model  # noqa: E402
from sr_core.models.pretrained import initialise  # noqa: E402
from sr_core.models.registry import model_spec  # noqa: E402
from sr_core.predict import Predictor  # noqa: E402

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def predictor_for(spec: str, device: str, input_size: int = 256) -> Predictor:
    """A Predictor whose ood_descriptors give the backbone's pooled features."""
    kind, _, path = spec.partition(":")
    if kind == "weights":
        predictor = Predictor.from_weights(path, device=device, batch_size=16)
        if input_size != predictor.input_size:
            raise SystemExit(f"{path}: a weights file is probed at its own input size, {predictor.input_size}")
        return predictor
    names = {"lite0-imagenet": "sr_efficientnet_lite0", "lite2-imagenet": "sr_efficientnet_lite2",
             "nano-random": "sr_vmamba_nano", "nano-init": "sr_vmamba_nano"}
    if kind not in names or (kind == "nano-init") != bool(path):
        raise SystemExit(f"unknown backbone {spec!r}: lite0-imagenet, lite2-imagenet, nano-random, "
                         "nano-init:PATH or weights:PATH")
    torch.manual_seed(0)
    name = names[kind]
    model = create_model(name, fpm=False)  # the FPM branch plays no part in the pooled features
    if kind.endswith("-imagenet"):
        initialise(model, "imagenet")
    elif kind == "nano-init":
        initialise(model, path)
    spec_ = model_spec(name)
    metadata = {"class_names": [f"c{i}" for i in range(8)], "input_size": input_size,
                "mean": list(spec_.mean), "std": list(spec_.std)}
    return Predictor(model, metadata, device=device, batch_size=16)


def features(predictor: Predictor, paths: list[Path]) -> np.ndarray:
    """(N, D) pooled features (the descriptors without their 64 thumbnail values)."""
    out = []
    for start in range(0, len(paths), predictor.batch_size):
        images = [read_image(p) for p in paths[start : start + predictor.batch_size]]
        out.append(predictor.ood_descriptors(images)[:, :-64])
    return np.concatenate(out).astype(np.float64)


def split_rows(root: Path, split: str, class_names: list[str] | None = None):
    """(unique image paths, per-sample (image index, label) pairs, class names) of a layout split.

    Copies of one image under several finding folders (or links to it) count as one image."""
    data = FolderDataset(root, split, class_names=class_names)
    index: dict[str, int] = {}
    paths: list[Path] = []
    samples: list[tuple[int, int]] = []
    for path, label in data.samples:
        key = Path(path).name
        if key not in index:
            index[key] = len(paths)
            paths.append(Path(path))
        samples.append((index[key], label))
    return paths, samples, data.class_names


def fit(x: np.ndarray, y: np.ndarray, classes: int, l2: float, steps: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (full-batch L-BFGS, mean CE + l2 * |W|^2)."""
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y)
    w = torch.zeros(x.shape[1], classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def scores(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = x @ w + b
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def multi_hot(samples: list[tuple[int, int]], n: int, classes: int) -> np.ndarray:
    labels = np.zeros((n, classes), dtype=np.int64)
    for i, c in samples:
        labels[i, c] = 1
    return labels


def probe(f_train, rows, y_train, f_sel, sel_labels, f_rep, rep_labels, classes, names):
    """Fit on the training samples (feature rows `rows`, labels `y_train`), standardised over their
    images, the L2 weight by the selection half's mean AUC; score the report half.

    Returns (L2, selection AUC, report classification_report)."""
    images = f_train[np.unique(rows)]
    mean, std = images.mean(axis=0), images.std(axis=0) + 1e-6
    x_train = f_train[rows]
    best = None
    for l2 in L2_GRID:
        w, b = fit((x_train - mean) / std, y_train, classes, l2)
        auc = classification_report(scores((f_sel - mean) / std, w, b), sel_labels, names)["auc_mean"]
        if best is None or auc > best[1]:
            best = (l2, auc, w, b)
    l2, sel_auc, w, b = best
    return l2, sel_auc, classification_report(scores((f_rep - mean) / std, w, b), rep_labels, names)


def cached_features(spec: str, input_size: int, device: str, cache_dir: Path, splits):
    """(train, selection, report) features of a backbone, computed once per backbone and size."""
    key = spec if input_size == 256 else f"{spec}@{input_size}"  # 256 px keeps the earlier files' names
    cache = cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"
    if cache.is_file():
        saved = np.load(cache)
        return saved["train"], saved["select"], saved["report"]
    predictor = predictor_for(spec, device, input_size)
    found = [features(predictor, paths) for paths in splits]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, train=found[0], select=found[1], report=found[2])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--select", type=Path, required=True, help="layout: train/ fits, test/ chooses the L2 weight")
    parser.add_argument("--report", type=Path, required=True, help="layout whose test/ is scored")
    parser.add_argument("--backbone", action="append", required=True, metavar="SPEC")
    parser.add_argument("--input-size", type=int, default=256, help="image side for the features (default 256)")
    parser.add_argument("--fractions", type=float, nargs="+", default=[],
                        help="also fit on these fractions (0-1) of the training images: a learning curve")
    parser.add_argument("--subsets", type=int, default=5, help="random subsets drawn per fraction (default 5)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache", type=Path, default=Path(".data/probe-cache"))
    args = parser.parse_args()
    if any(not 0 < f < 1 for f in args.fractions):
        parser.error("--fractions: each must lie strictly between 0 and 1")
    train_paths, train_samples, names = split_rows(args.select, "train")
    sel_paths, sel_samples, _ = split_rows(args.select, "test", names)
    rep_paths, rep_samples, _ = split_rows(args.report, "test", names)
    classes = len(names)
    print(f"train {len(train_paths)} images / {len(train_samples)} samples; selection {len(sel_paths)} images; "
          f"report {len(rep_paths)} images; {classes} findings; {args.input_size} px; L2 grid {L2_GRID}\n")
    print("| backbone | training images | feature dims | L2 (selection) | selection AUC | report AUC | report top-1 | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    sel_labels = multi_hot(sel_samples, len(sel_paths), classes)
    rep_labels = multi_hot(rep_samples, len(rep_paths), classes)
    sample_image = np.array([i for i, _ in train_samples])
    sample_label = np.array([c for _, c in train_samples])
    for spec in args.backbone:
        start = time.perf_counter()
        f_train, f_sel, f_rep = cached_features(spec, args.input_size, args.device, args.cache,
                                                (train_paths, sel_paths, rep_paths))
        l2, sel_auc, report = probe(f_train, sample_image, sample_label, f_sel, sel_labels, f_rep, rep_labels,
                                    classes, names)
        print(f"| {spec} | all {len(train_paths)} | {f_train.shape[1]} | {l2:g} | {sel_auc:.3f} | "
              f"{report['auc_mean']:.3f} | {report['accuracy']:.3f} | {time.perf_counter() - start:.0f} |", flush=True)
        for fraction in sorted(args.fractions):
            start = time.perf_counter()
            rng = np.random.default_rng(0)
            count = max(1, round(fraction * len(train_paths)))
            runs = []
            for _ in range(args.subsets):
                keep = np.isin(sample_image, rng.choice(len(train_paths), count, replace=False))
                runs.append(probe(f_train, sample_image[keep], sample_label[keep], f_sel, sel_labels, f_rep,
                                  rep_labels, classes, names))
            sel = np.array([r[1] for r in runs])
            rep = np.array([r[2]["auc_mean"] for r in runs])
            top1 = np.mean([r[2]["accuracy"] for r in runs])
            l2s = "/".join(sorted({f"{r[0]:g}" for r in runs}))
            print(f"| {spec} | {fraction:g}: {count}, {args.subsets} subsets | {f_train.shape[1]} | {l2s} | "
                  f"{sel.mean():.3f} ({sel.min():.3f}-{sel.max():.3f}) | {rep.mean():.3f} ({rep.min():.3f}-{rep.max():.3f}) | "
                  f"{top1:.3f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
