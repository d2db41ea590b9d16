"""Evaluation on an NIH-layout test split: the full metric report.

Used by sr-core-eval and by the trainer's validation, so both report the same numbers.
Every (image, finding) row of test_list.txt is scored with the predicted boxes of that
finding (from its own map, at the weights' threshold or a given one) against that finding's
GT boxes. Classification is scored per image against all the findings it is listed under.
Predictions come from our Predictor, from a JSON-lines file in sr-core-infer's format
(any model) or from a box-only baseline (``baselines``). A predictions file has boxes but no
maps, so the threshold sweeps are left out; a baseline has no classifier either, so the
classification and top-1 parts are None (not applicable) too. The report keeps one shape
whatever the source, so the same table code prints any two side by side. This module does
not import torch (the model's types are only named in hints).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from sr_core.boxes import FloatBox, upsample_fpm
from sr_core.io import ImageReadError, XrayImage
from sr_core.evaluation.metrics import (
    FpmRecord,
    LocalizationRecord,
    best_thresholds,
    classification_report,
    iobb_matrix,
    iou_matrix,
    localization_report,
    sweep_metrics,
)

if TYPE_CHECKING:
    from sr_core.data.datasets import LocalizationSet
    from sr_core.predict import Predictor

log = logging.getLogger(__name__)

SWEEP_SIZE = 128
"""Maps are swept for MaxBoxAccV2 and the threshold curves at this size (boxes are scaled)."""
CURVE_IOUS = (0.1, 0.3, 0.5)


@dataclass
class ScoredRow:
    """One test_list row with everything needed to score it.

    Attributes:
        probabilities: the classifier's per finding; None for a box-only baseline.
        fpm: the map for the threshold sweeps; None when the source has no maps.
    """

    image: str
    finding: str
    gt_boxes: list[FloatBox]
    pred_boxes: list[FloatBox]
    threshold: float | None
    probabilities: dict[str, float] | None
    fpm: FpmRecord | None = None


@dataclass
class Evaluation:
    """The report (JSON-ready), one CSV row per (image, finding), and the threshold curves."""

    report: dict
    rows: list[dict]
    curves: dict[str, dict] = field(default_factory=dict)


def rows_from_predictor(
    predictor: Predictor, dataset: LocalizationSet, threshold: float | None = None, mode: str = "largest",
    indices: Sequence[int] | None = None, progress: bool = False,
) -> tuple[list[ScoredRow], list[str]]:
    """Run the model over dataset rows; returns (scored rows, one-line errors)."""
    rows, errors = _indexed_rows(predictor, dataset, threshold, mode, indices, progress)
    return [row for _, row in rows], [error for _, error in errors]


def rows_from_predictor_sharded(
    predictor: Predictor, dataset: LocalizationSet, threshold: float | None = None, mode: str = "largest",
    progress: bool = False,
) -> tuple[list[ScoredRow], list[str]] | None:
    """rows_from_predictor over the whole dataset, shared by the torchrun ranks.

    Each rank predicts whole batches of the rows (sr_core.distributed.shard); rank 0 gets every
    row and error in dataset order, as one process makes them, and None is returned elsewhere.
    Every rank must call it. Without torchrun it is rows_from_predictor.
    """
    from sr_core import distributed

    rank = distributed.rank_and_world()[0]
    indices = distributed.shard(len(dataset), predictor.batch_size)
    rows, errors = _indexed_rows(predictor, dataset, threshold, mode, indices, progress and rank == 0)
    rows, errors = distributed.gather_in_order(rows), distributed.gather_in_order(errors)
    return None if rows is None else (rows, errors)


def _indexed_rows(
    predictor: Predictor, dataset: LocalizationSet, threshold: float | None, mode: str,
    indices: Sequence[int] | None, progress: bool,
) -> tuple[list[tuple[int, ScoredRow]], list[tuple[int, str]]]:
    """The scored rows and the errors, each with its dataset index."""
    indices = list(range(len(dataset))) if indices is None else list(indices)
    rows: list[tuple[int, ScoredRow]] = []
    errors: list[tuple[int, str]] = []
    bar = tqdm(total=len(indices), desc="evaluate", unit="img", disable=not progress)
    batch: list = []

    def flush() -> None:
        preds = predictor.predict_batch([XrayImage(s.image, path=s.path) for _, s in batch])
        for (i, sample), pred in zip(batch, preds):
            t = pred.threshold_for(sample.finding) if threshold is None else threshold
            rows.append((i, ScoredRow(
                image=sample.path.name, finding=sample.finding, gt_boxes=_gt(sample.boxes),
                pred_boxes=pred.boxes(t, sample.finding, mode), threshold=t,
                probabilities=pred.probabilities,
                fpm=_sweep_record(sample, pred.small_maps[sample.finding], pred.height, pred.width),
            )))
        bar.update(len(batch))
        batch.clear()

    for i in indices:
        try:
            batch.append((i, dataset[i]))
        except ImageReadError as exc:
            errors.append((i, str(exc)))
            log.warning("%s", exc)
            bar.update(1)
            continue
        if len(batch) >= predictor.batch_size:
            flush()
    if batch:
        flush()
    bar.close()
    return rows, errors


def rows_from_predictions(path: Path, dataset: LocalizationSet) -> tuple[list[ScoredRow], list[str]]:
    """Score an sr-core-infer JSON-lines file: images matched by file name, boxes rescaled
    from the prediction's image size to the dataset's; missing or failed images are errors."""
    by_name: dict[str, dict] = {}
    errors: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                by_name[Path(record["image"]).name] = record
            except (json.JSONDecodeError, KeyError, TypeError):
                errors.append(f"{path.name}:{line_no}: not a prediction line; skipped")
    rows = []
    for row in dataset.rows:
        record = by_name.get(row.file)
        if record is None or record.get("error"):
            errors.append(f"{row.file}: {record.get('error') if record else 'no prediction in ' + path.name}")
            continue
        entry = dataset.gt[(row.finding, row.file)]
        gts = _gt(entry.boxes_at(record["width"], record["height"]))
        findings = {f["label"]: f for f in record["findings"]}
        mine = findings.get(row.label, {})
        rows.append(ScoredRow(
            image=row.file, finding=row.label, gt_boxes=gts,
            pred_boxes=[tuple(int(v) for v in b) for b in mine.get("boxes", [])],
            threshold=mine.get("threshold"),
            probabilities={c: float(findings.get(c, {}).get("probability", 0.0)) for c in dataset.class_names},
        ))
    return rows, errors


def _gt(boxes) -> list[FloatBox]:
    return [tuple(float(v) for v in b) for b in np.asarray(boxes, dtype=np.float64).reshape(-1, 4)]


def _sweep_record(sample, small_map: np.ndarray, height: int, width: int) -> FpmRecord:
    scale = SWEEP_SIZE / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return FpmRecord(sample.path.name, sample.finding, upsample_fpm(small_map, size), _gt(sample.boxes),
                     image_size=(height, width))


def score(rows: Sequence[ScoredRow], class_names: Sequence[str], errors: Sequence[str] = (),
          mode: str | None = "largest") -> Evaluation:
    """The report: GT-known / top-1 at IoU and IoBB thresholds, MaxBoxAccV2 and threshold
    curves (when maps are known), classification accuracy and AUC (when probabilities are
    known, else None), counts. mode is the map-to-box rule; None for boxes not from a map."""
    if not rows:
        raise ValueError("no image could be evaluated" + (f" ({errors[0]})" if errors else ""))
    class_names = list(class_names)
    records, csv_rows = [], []
    for r in rows:
        classified = r.probabilities is not None
        top1 = max(r.probabilities, key=r.probabilities.get) if classified else None
        records.append(LocalizationRecord(r.image, r.finding, r.pred_boxes, r.gt_boxes, top1))
        ious = iou_matrix(r.pred_boxes, r.gt_boxes) if r.pred_boxes else np.zeros(0)
        iobbs = iobb_matrix(r.pred_boxes, r.gt_boxes) if r.pred_boxes else np.zeros(0)
        csv_rows.append({
            "image": r.image, "finding": r.finding,
            "probability": r.probabilities.get(r.finding, 0.0) if classified else None,
            "top1": top1, "threshold": r.threshold,
            "best_iou": float(ious.max()) if ious.size else 0.0,
            "best_iobb": float(iobbs.max()) if iobbs.size else 0.0,
            "pred_boxes": [[round(v, 1) for v in b] for b in r.pred_boxes],
            "gt_boxes": [[round(v, 1) for v in g] for g in r.gt_boxes],
            # Every finding's probability (report.csv's p_<finding> columns): ROC curves and
            # resampled AUCs need the whole vector, not only the listed finding's.
            "probabilities": {c: r.probabilities.get(c, 0.0) for c in class_names} if classified else None,
        })
    report = localization_report(records)
    classified = all(r.probabilities is not None for r in rows)
    report["classification"] = _classification(rows, class_names) if classified else None
    fpms = [r.fpm for r in rows if r.fpm is not None]
    curves: dict[str, dict] = {}
    if len(fpms) == len(rows):
        report["maxboxacc_v2"], by_iou = sweep_metrics(fpms, CURVE_IOUS, mode)
        curves = {f"{iou:g}": curve for iou, curve in zip(CURVE_IOUS, by_iou)}
        report["best_thresholds"] = {f"iou {k}": best_thresholds(c) for k, c in curves.items()}
    else:  # needs the maps: not available from a predictions file or a baseline
        report["maxboxacc_v2"] = report["best_thresholds"] = None
    thresholds = sorted({r.threshold for r in rows if r.threshold is not None})
    report["threshold"] = thresholds[0] if len(thresholds) == 1 else (thresholds or None)
    report["box_mode"] = mode
    report["n_images"] = len({r.image for r in rows})
    report["n_failed"] = len(errors)
    report["errors"] = list(errors)[:50]
    return Evaluation(report, csv_rows, curves)


def operating_choice(evaluation: Evaluation, iou: float, class_names: Sequence[str], fallback: float,
                     max_box_ratio: float | None = None) -> dict:
    """What a release takes from a validation report: the map thresholds that maximise GT-known
    accuracy at `iou` (class mean, and per finding), that accuracy, and the operating points.
    With max_box_ratio, only thresholds whose boxes average at most that many times the GT
    boxes' area compete (best_thresholds).

    Returns:
        {"metric", "default_threshold", "fpm_thresholds", "operating_points", "name"}; without
        maps (no curves) the metric is the accuracy at `fallback`, the threshold `fallback`.
    """
    report = evaluation.report
    key = f"{iou:g}"
    curve = evaluation.curves.get(key)
    if curve:
        best = (report["best_thresholds"][f"iou {key}"] if max_box_ratio is None
                else best_thresholds(curve, max_box_ratio))
        threshold = best["class_mean"]
        metric = float(curve["class_mean"][int(np.argmin(np.abs(np.asarray(curve["thresholds"]) - threshold)))])
        per_finding = {k: v for k, v in best.items() if k in class_names}
    else:
        threshold, metric, per_finding = fallback, report["gt_known"]["iou"][key]["class_mean"], {}
    where = "the best map threshold" if curve else "threshold"
    return {"metric": metric, "default_threshold": threshold, "fpm_thresholds": per_finding,
            "operating_points": (report.get("classification") or {}).get("operating_points", {}),
            "name": f"GT-known IoU>{key} class mean at {where} ({threshold:.2f})"}


def _classification(rows: Sequence[ScoredRow], class_names: list[str]) -> dict:
    """Per image: probabilities against the multi-hot of the findings it is listed under."""
    probs: dict[str, list[float]] = {}
    labels: dict[str, np.ndarray] = {}
    for r in rows:
        probs.setdefault(r.image, [r.probabilities.get(c, 0.0) for c in class_names])
        labels.setdefault(r.image, np.zeros(len(class_names), dtype=np.int64))[class_names.index(r.finding)] = 1
    images = list(probs)
    return classification_report(np.array([probs[i] for i in images]), np.array([labels[i] for i in images]),
                                 class_names)


def evaluate(predictor: Predictor, dataset: LocalizationSet, threshold: float | None = None,
             mode: str = "largest", progress: bool = False) -> Evaluation:
    """Predict and score a whole localization set with our model."""
    rows, errors = rows_from_predictor(predictor, dataset, threshold, mode, progress=progress)
    return score(rows, dataset.class_names, errors, mode)


def describe(report: dict, source: str, data: str | Path, split: str, problems: Sequence[str] = (),
             baseline: str | None = None) -> dict:
    """Say where a report's numbers come from, in the keys every report carries.

    Args:
        report: score()'s report, completed in place.
        source: the model's name, the predictions file's name or the baseline's description.
        data, split: the dataset root and the split scored.
        problems: the dataset's skipped rows (the first 50 are kept).
        baseline: the baseline's name; None for a model (then ``weights`` is the source).

    Returns:
        The report.
    """
    report.update(weights=None if baseline else source, baseline=baseline, source=source, data=str(data),
                  split=split, data_problems=list(problems)[:50])
    return report
