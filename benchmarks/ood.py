"""Calibrate the out-of-distribution check (sr_core.ood) of a weights file and measure it.

Fits the feature reference on chest films (nih-train + cxr-unlabeled), sets its limit at a
percentile of their out-of-fold distances, then measures on images it never saw: the
false-alarm rate on nih-val (all 351, plus the 8 nih-demo films at 1024 px and the 3 chest CR
DICOMs) and the hit rate on non-chest images, each source in its own row:

    real, on disk in installed packages: pydicom's test DICOMs (CT, MR, ultrasound, nuclear
      medicine, a segmentation mask: one file per distinct image), pydicom's test patterns,
      matplotlib's sample photos and its MR brain slice (s1045.ima), package logos and plots;
    generated here: noise, gradients, flat and checkered images, hand, skull and dental
      panoramic phantoms, and (not counted as non-chest) the chest phantoms of
      sr_core.data.phantoms.

Prints a Markdown table, writes the weights with the calibration under the metadata key
"ood" (tensors bit-identical, other metadata unchanged; never over the input without
--in-place), then reloads the written file through Predictor and checks that it warns where
the table says it does.

Run: python benchmarks/ood.py --weights W --out W2 [--data ../shared/data] [--device cpu]
     python benchmarks/ood.py --weights W --features-only nih-train nih-val --cache DIR
       (features of some sources only, e.g. on a GPU machine; a later run reuses the cache)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_name  # noqa: E402

from sr_core import ood  # noqa: E402
from sr_core.io import ImageReadError, XrayImage, iter_image_files, read_image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
FIT_SOURCES = ("nih-train", "cxr-unlabeled")
# pydicom test files, one per distinct image (the other files repeat these pixels in other
# encodings), with what each shows.
PYDICOM_MEDICAL = {
    "CT_small.dcm": "CT, axial body slice",
    "693_J2KI.dcm": "CT, axial head slice",
    "J2K_pixelrep_mismatch.dcm": "CT, axial head slice",
    "MR_small.dcm": "MR, small crop",
    "examples_overlay.dcm": "MR, abdomen",
    "JPEG2000.dcm": "nuclear medicine, whole body",
    "ExplVR_BigEnd.dcm": "ultrasound",
    "examples_jpeg2k.dcm": "ultrasound",
    "examples_palette.dcm": "ultrasound (palette colour)",
    "examples_ybr_color.dcm": "ultrasound, cardiac (colour)",
    "liver_1frame.dcm": "segmentation mask (liver)",
}
PYDICOM_PATTERNS = {
    "GDCMJ2K_TextGBR.dcm": "text on grey",
    "SC_rgb_rle.dcm": "colour bars",
    "SC_jpeg_no_color_transform.dcm": "near-white test image",
    "image_dfl.dcm": "grey blocks",
}


@dataclass
class Source:
    """A named set of images: role "fit", "chest" (should not warn) or "non-chest" (should)."""

    name: str
    role: str
    origin: str  # "real" or "generated", said in the table
    what: str
    images: Callable[[], Iterator[tuple[str, XrayImage]]]


def read_files(paths: list[Path]) -> Callable[[], Iterator[tuple[str, XrayImage]]]:
    def images() -> Iterator[tuple[str, XrayImage]]:
        for path in paths:
            try:
                yield path.name, read_image(path)
            except ImageReadError as exc:
                print(f"  skipped: {exc}", file=sys.stderr)
    return images


def folder(path: Path) -> list[Path]:
    return list(iter_image_files(path)) if path.is_dir() else []


def package_dir(module: str) -> Path | None:
    try:
        return Path(__import__(module).__file__).parent
    except ImportError:
        return None


def mri_slice() -> Iterator[tuple[str, XrayImage]]:
    """matplotlib's s1045.ima.gz: a real 256x256 16-bit MR brain slice, raw (its mri demo's reading)."""
    base = package_dir("matplotlib")
    path = base / "mpl-data" / "sample_data" / "s1045.ima.gz" if base else None
    if path is None or not path.is_file():
        return
    raw = np.frombuffer(gzip.decompress(path.read_bytes()), dtype="<u2").reshape(256, 256).astype(np.float32)
    yield path.name, XrayImage(raw / raw.max(), path=path, source_kind="raw")


def smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)


def finish(image: np.ndarray, rng: np.random.Generator, noise: float = 0.02) -> np.ndarray:
    """Detector-like blur and noise, clipped to [0, 1]."""
    image = smooth(image, 1.5) + rng.normal(0, noise, image.shape).astype(np.float32)
    return np.clip(image, 0, 1)


def hand_phantom(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """A PA hand radiograph caricature: soft-tissue palm and fingers, brighter bones with joint gaps."""
    img = np.full((size, size), 0.05, np.float32)
    palm = (int(size * rng.uniform(0.45, 0.55)), int(size * 0.72))
    cv2.ellipse(img, palm, (int(size * 0.2), int(size * 0.17)), 0, 0, 360, 0.35, -1)
    for i, angle in enumerate(np.linspace(-35, 35, 5) + rng.uniform(-5, 5, 5)):
        theta = np.deg2rad(angle - 90)
        base = np.array(palm) + np.array([np.cos(theta), np.sin(theta)]) * size * 0.12
        length = size * (0.28 if i in (1, 2, 3) else 0.22)
        tip = base + np.array([np.cos(theta), np.sin(theta)]) * length
        cv2.line(img, tuple(base.astype(int)), tuple(tip.astype(int)), 0.35, int(size * 0.05))
        for a, b in ((0.0, 0.3), (0.36, 0.62), (0.68, 0.9)):  # phalanges with joint spaces
            p, q = base + (tip - base) * a, base + (tip - base) * b
            cv2.line(img, tuple(p.astype(int)), tuple(q.astype(int)), 0.8, int(size * 0.022))
        root = np.array(palm) + np.array([np.cos(theta), np.sin(theta)]) * size * 0.02
        cv2.line(img, tuple(root.astype(int)), tuple((base - (base - root) * 0.1).astype(int)), 0.75, int(size * 0.025))
    cv2.rectangle(img, (palm[0] - size // 7, palm[1]), (palm[0] + size // 7, size), 0.35, -1)  # wrist and forearm
    for dx in (-size // 14, size // 14):  # radius and ulna
        cv2.line(img, (palm[0] + dx, palm[1] + size // 12), (palm[0] + dx, size), 0.8, int(size * 0.04))
    return finish(img, rng)


def skull_phantom(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """A lateral skull caricature: bright cranial vault, mottled brain, jaw and a row of teeth."""
    img = np.full((size, size), 0.05, np.float32)
    centre = (size // 2, int(size * 0.42))
    axes = (int(size * rng.uniform(0.33, 0.37)), int(size * 0.3))
    cv2.ellipse(img, centre, axes, 0, 0, 360, 0.85, -1)
    cv2.ellipse(img, centre, (axes[0] - size // 40, axes[1] - size // 40), 0, 0, 360, 0.4, -1)
    img += (smooth(rng.random((size, size)), 6) - 0.5) * 0.3 * (img == 0.4)
    cv2.ellipse(img, (int(size * 0.55), int(size * 0.78)), (int(size * 0.25), int(size * 0.12)), 0, 0, 180, 0.7, size // 30)
    for x in np.linspace(size * 0.35, size * 0.72, 10):
        cv2.rectangle(img, (int(x), int(size * 0.7)), (int(x + size * 0.025), int(size * 0.76)), 0.95, -1)
    return finish(img, rng)


def panoramic_phantom(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """A dental panoramic caricature (2:1): jaws as bright arcs, two rows of teeth, dark airway."""
    h, w = size // 2, size
    img = np.full((h, w), 0.25, np.float32)
    cv2.ellipse(img, (w // 2, int(h * 0.2)), (int(w * 0.45), int(h * 0.7)), 0, 10, 170, 0.6, int(h * 0.18))
    for row, (y0, y1) in enumerate(((0.3, 0.48), (0.52, 0.7))):
        for x in np.linspace(w * 0.15, w * 0.82, 16):
            jitter = rng.uniform(-0.02, 0.02) * h
            cv2.rectangle(img, (int(x), int(h * y0 + jitter)), (int(x + w * 0.035), int(h * y1 + jitter)), 0.9, -1)
    cv2.rectangle(img, (int(w * 0.46), 0), (int(w * 0.54), int(h * 0.25)), 0.1, -1)
    return finish(img, rng)


def generated(kind: str, seeds: int = 3) -> Callable[[], Iterator[tuple[str, XrayImage]]]:
    """Images this script makes; `kind` picks the family, `seeds` how many of it."""
    def images() -> Iterator[tuple[str, XrayImage]]:
        for seed in range(seeds):
            rng = np.random.default_rng([seed, sum(kind.encode())])
            size = 512
            yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
            if kind == "noise":
                pixels = [rng.random((size, size)), smooth(rng.random((size, size)), 8) * 4 - 1.5,
                          rng.normal(0.5, 0.2, (size, size))][seed % 3]
            elif kind == "gradient":
                pixels = [xx, yy[::-1], np.hypot(xx - 0.5, yy - 0.5) * 1.4][seed % 3]
            elif kind == "flat":
                pixels = [np.full((size, size), 0.5), (((xx * 16).astype(int) + (yy * 16).astype(int)) % 2),
                          (np.sin(xx * 60) > 0)][seed % 3]
            elif kind == "hand":
                pixels = hand_phantom(rng)
            elif kind == "skull":
                pixels = skull_phantom(rng)
            elif kind == "panoramic":
                pixels = panoramic_phantom(rng)
            elif kind == "chest-phantom":
                from sr_core.data.phantoms import make_phantom
                pixels = make_phantom(seed, size=256, rng=rng)[0]
            else:
                raise ValueError(kind)
            yield f"{kind}-{seed}", XrayImage(np.clip(np.asarray(pixels, np.float32), 0, 1), source_kind="generated")
    return images


def sources(data: Path) -> list[Source]:
    """Every image set the calibration uses or is measured on (missing packages drop their rows)."""
    found = [
        Source("nih-train", "fit", "real", "NIH chest films, 256 px JPEG", read_files(folder(data / "nih-train" / "images"))),
        Source("cxr-unlabeled", "fit", "real", "other adult chest films, JPEG", read_files(folder(data / "cxr-unlabeled" / "images"))),
        Source("nih-val", "chest", "real", "NIH chest films (all 351), 256 px PNG", read_files(folder(data / "nih-val" / "images"))),
        Source("nih-demo", "chest", "real", "8 nih-val films at 1024 px", read_files(folder(data / "nih-demo"))),
        Source("chest-dicom", "chest", "real", "chest CR DICOMs of ../shared/data/dicom", read_files(folder(data / "dicom"))),
    ]
    pydicom_files = (package_dir("pydicom") or Path("/nonexistent")) / "data" / "test_files"
    for name, table, what in (("pydicom-medical", PYDICOM_MEDICAL, "pydicom test DICOMs: CT, MR, US, NM, SEG"),
                              ("pydicom-patterns", PYDICOM_PATTERNS, "pydicom test DICOMs: text, bars, blocks")):
        paths = [pydicom_files / f for f in table if (pydicom_files / f).is_file()]
        found.append(Source(name, "non-chest", "real", what, read_files(paths)))
    mpl = package_dir("matplotlib")
    photos = [mpl / "mpl-data" / "sample_data" / f for f in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png")] if mpl else []
    found.append(Source("matplotlib-samples", "non-chest", "real", "matplotlib sample photos and logo", read_files([p for p in photos if p.is_file()])))
    found.append(Source("matplotlib-mri", "non-chest", "real", "matplotlib's MR brain slice s1045.ima", mri_slice))
    graphics = []
    for module, rel in (("pyqtgraph", "icons/peegee/peegee_512px.png"), ("PySide6", "scripts/deploy_lib/pyside_icon.jpg"),
                        ("networkx", "drawing/tests/baseline/test_display_complex.png"),
                        ("networkx", "drawing/tests/baseline/test_house_with_colors.png")):
        base = package_dir(module)
        if base is not None and (base / rel).is_file():
            graphics.append(base / rel)
    found.append(Source("package-graphics", "non-chest", "real", "logos and plots shipped in packages", read_files(graphics)))
    for kind, what in (("noise", "uniform, smooth and Gaussian noise"), ("gradient", "linear and radial gradients"),
                       ("flat", "flat grey, checkerboard, stripes"), ("hand", "hand radiograph phantom"),
                       ("skull", "lateral skull phantom"), ("panoramic", "dental panoramic phantom")):
        found.append(Source(f"generated-{kind}", "non-chest", "generated", what, generated(kind)))
    found.append(Source("chest-phantoms", "synthetic", "generated", "sr_core.data.phantoms chests (not counted)", generated("chest-phantom", 4)))
    return found


def source_features(predictor, source: Source, cache: Path | None, weights_id: str, batch: int = 16):
    """(names, descriptors (N, D), header reasons, device) of a source, from the cache when it has them."""
    cache_file = cache / f"{source.name}-{weights_id}.npz" if cache else None
    if cache_file is not None and cache_file.is_file():
        saved = np.load(cache_file)
        return list(saved["names"]), saved["features"], list(saved["header"]), str(saved["device"])
    names, feats, header, pending = [], [], [], []

    def flush() -> None:
        if pending:
            feats.append(predictor.ood_descriptors([img for _, img in pending]))
            pending.clear()

    for name, image in source.images():
        names.append(name)
        header.append(ood.header_reason(image.metadata) or "")
        pending.append((name, image))
        if len(pending) >= batch:
            flush()
    flush()
    dim = predictor.model.backbone.out_channels + ood.THUMBNAIL_SIDE**2
    features = np.concatenate(feats) if feats else np.zeros((0, dim), np.float32)
    device = str(predictor.device)
    if cache_file is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache_file, names=np.array(names), features=features, header=np.array(header), device=device)
    return names, features, header, device


def tensors_id(model) -> str:
    """A hash of the weights' tensors (as float16) and of the descriptor, naming features in the cache."""
    digest = hashlib.sha256(ood.FEATURES.encode())
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().cpu().numpy().astype(np.float16).tobytes())
    return digest.hexdigest()[:12]


def write_weights(src: Path, dst: Path, reference: ood.FeatureReference) -> None:
    """The weights again with metadata "ood" added: the same tensors, byte for byte, and the same
    other metadata. Nothing is rebuilt (a rebuilt model would write this checkout's config defaults)."""
    from safetensors import safe_open

    from sr_core.checkpoint import read_metadata, write_safetensors_atomic

    meta = read_metadata(src)
    with safe_open(str(src), framework="pt") as fh:
        header = dict(fh.metadata())
        tensors = {key: fh.get_tensor(key) for key in fh.keys()}
    key = next(k for k, v in header.items() if _json(v) == meta)  # the entry read_metadata reads
    header[key] = json.dumps({**meta, "ood": reference.to_metadata()})
    write_safetensors_atomic(tensors, header, dst)
    written = read_metadata(dst)
    assert {k: v for k, v in written.items() if k != "ood"} == {k: v for k, v in meta.items() if k != "ood"}
    with safe_open(str(dst), framework="pt") as fh:
        assert set(fh.keys()) == set(tensors)
        for name, tensor in tensors.items():
            stored = fh.get_tensor(name)
            assert stored.dtype == tensor.dtype and stored.equal(tensor), f"tensor {name} changed"


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


def print_sweep(table, chosen: list[Source], reference: ood.FeatureReference, out_of_fold: np.ndarray) -> None:
    """What other percentiles would have given (the limit moves; the fit stays)."""
    val = reference.distances(table["nih-val"][1]) if len(table["nih-val"][0]) else np.zeros(0)
    counted = [s.name for s in chosen if s.role == "non-chest" and len(table[s.name][0])]
    far = np.concatenate([reference.distances(table[n][1]) for n in counted]) if counted else np.zeros(0)
    header = np.concatenate([[bool(h) for h in table[n][2]] for n in counted]) if counted else np.zeros(0, bool)
    print(f"\n| percentile | limit | out-of-fold alarms (fit) | nih-val false alarms | non-chest hits, features | non-chest hits, any |")
    print("|---:|---:|---:|---:|---:|---:|")
    for pct in (95.0, 97.5, 99.0, 99.5):
        limit = float(np.percentile(out_of_fold, pct))
        print(f"| {pct:g}{' (used)' if pct == reference.percentile else ''} | {limit:.4g} | "
              f"{rate(int((out_of_fold > limit).sum()), len(out_of_fold))} | {rate(int((val > limit).sum()), len(val))} | "
              f"{rate(int((far > limit).sum()), len(far))} | {rate(int(((far > limit) | header).sum()), len(far))} |")


def rate(hits: int, n: int) -> str:
    return f"{hits}/{n} ({100.0 * hits / n:.1f}%)" if n else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--out", type=Path, help="weights file to write with the calibration")
    parser.add_argument("--in-place", action="store_true", help="write the calibration into --weights itself")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--percentile", type=float, default=ood.DEFAULT_PERCENTILE)
    parser.add_argument("--components", type=int, default=ood.DEFAULT_COMPONENTS)
    parser.add_argument("--cache", type=Path, help="folder for per-source features (reused when present)")
    parser.add_argument("--features-only", nargs="+", metavar="SOURCE", help="only compute (and cache) these sources' features")
    parser.add_argument("--check", type=int, default=4, help="images per measured source re-run through the written file")
    parser.add_argument("--report", type=Path, help="also write every image's distance and warning as JSON")
    args = parser.parse_args(argv)
    if args.in_place:
        args.out = args.weights
    elif args.out is not None and args.out.resolve() == args.weights.resolve():
        parser.error("--out is the input weights: pass --in-place to overwrite them")

    import torch

    from sr_core.predict import Predictor

    torch.manual_seed(0)
    predictor = Predictor.from_weights(args.weights, device=args.device, batch_size=args.batch_size)
    predictor.ood_reference = None  # measure this calibration, not one the file may already have
    weights_id = tensors_id(predictor.model)
    chosen = sources(args.data)
    if args.features_only:
        chosen = [s for s in chosen if s.name in args.features_only]
    started = time.perf_counter()
    table = {}
    for source in chosen:
        t0 = time.perf_counter()
        table[source.name] = source_features(predictor, source, args.cache, weights_id, args.batch_size)
        print(f"{source.name}: {len(table[source.name][0])} images, {time.perf_counter() - t0:.1f} s "
              f"on {table[source.name][3]}", file=sys.stderr)
    if args.features_only:
        return 0
    missing = [s for s in FIT_SOURCES if not len(table[s][0])]
    if missing:
        parser.error(f"no images for {', '.join(missing)} under {args.data}")

    fingerprint = ood.weights_fingerprint(predictor.model.cam.cls.weight.detach().cpu().numpy())
    fit = np.concatenate([table[s][1] for s in FIT_SOURCES])
    counts = {s: len(table[s][0]) for s in FIT_SOURCES}
    reference, out_of_fold = ood.calibrate_reference(
        fit, args.components, args.percentile, fingerprint=fingerprint,
        calibration={"sources": counts, "features_device": table[FIT_SOURCES[0]][3]})

    print(f"\nOOD calibration of {args.weights.name}: PPCA, {reference.components.shape[0]} of {reference.dim} "
          f"directions, limit = {args.percentile:g}th percentile of {len(fit)} out-of-fold distances "
          f"= {reference.limit:.4g}; features on {table[FIT_SOURCES[0]][3]}, {cpu_name()}, "
          f"{time.perf_counter() - started:.0f} s\n")
    print("| source | origin | role | images | header warns | feature warns | any warning | median ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    report = {}
    offset = 0
    for source in chosen:
        names, feats, header, _ = table[source.name]
        if source.name in FIT_SOURCES:
            ratios = out_of_fold[offset:offset + len(names)] / reference.limit  # out-of-fold: honest
            offset += len(names)
            role = "fit (out-of-fold)"
        else:
            ratios = reference.ratios(feats) if len(names) else np.zeros(0)
            role = source.role
        warns = (ratios > 1) | np.array([bool(h) for h in header], dtype=bool)
        n, n_header, n_feat = len(names), sum(bool(h) for h in header), int((ratios > 1).sum())
        median = f"{np.median(ratios):.2f}" if n else "-"
        print(f"| {source.name}: {source.what} | {source.origin} | {role} | {n} | {n_header} | {n_feat} | "
              f"{rate(sum(warns), n)} | {median} |")
        report[source.name] = [{"image": nm, "ratio": round(float(r), 4), "header": h or None}
                               for nm, r, h in zip(names, ratios, header)]
    if args.report:
        args.report.write_text(json.dumps(report, indent=1))
    print_sweep(table, chosen, reference, out_of_fold)

    if args.out is not None:
        write_weights(args.weights, args.out, reference)
        size = len(json.dumps(reference.to_metadata()))
        print(f"\nwrote {args.out} (metadata 'ood': {size / 1024:.0f} KB)")
        check = Predictor.from_weights(args.out, device=args.device)
        worst = 0.0
        for source in chosen:
            if source.name in FIT_SOURCES or source.role == "synthetic":
                continue
            images = list(source.images())[:args.check]
            for (name, image), prediction in zip(images, check.predict_batch([img for _, img in images])):
                expected = next(r for r in report[source.name] if r["image"] == name)
                agree = abs(prediction.ood_ratio - expected["ratio"]) <= 0.02 * max(1.0, expected["ratio"])
                assert agree and (prediction.warning is not None) == (prediction.ood_ratio > 1 or bool(expected["header"])), \
                    (name, prediction.warning, prediction.ood_ratio, expected)
                worst = max(worst, abs(prediction.ood_ratio - expected["ratio"]) / max(1.0, expected["ratio"]))
        print(f"reloaded through Predictor on {check.device}: the first {args.check} images of each measured source give the "
              f"table's ratios (largest relative difference {worst:.1e}) and warn where those ratios and headers say")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
