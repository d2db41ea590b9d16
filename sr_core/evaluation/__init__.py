"""How a model is scored: one address for the metrics, the scoring, the baselines, the reports
and the plots.

Data flows down the list; each module imports only the ones above it::

    metrics/     the pure metrics on boxes and maps, numpy only
                 overlap (IoU, IoBB), localization (GT-known, top-1 at "> T"),
                 sweeps (MaxBoxAccV2, accuracy-vs-threshold curves), classification (AUC)
    scoring      a test split -> ScoredRow per (image, finding) -> score() -> Evaluation
                 (report, CSV rows, curves); rows from a Predictor, an sr-core-infer
                 predictions file, or a baseline; operating_choice for a release
    baselines    box-only references (class-prior, whole-image) as ScoredRows
    reports      the published Wang et al. 2017 table and the side-by-side text table
    plots        PNGs of the threshold curves, the IoU histograms and training history

Where each idea lives:

* the box convention (xyxy, exclusive ends) and the box types: ``sr_core.boxes``;
* a hit is ``overlap > T`` (strictly): ``metrics.localization``;
* IoBB is the intersection over the *predicted* box: ``metrics.overlap``;
* maps are swept at ``scoring.SWEEP_SIZE`` and curves at ``scoring.CURVE_IOUS``;
* one report shape whatever the source (None for what a source cannot give): ``scoring.score``;
* whose numbers a report holds and how two are printed side by side: ``reports``.

Users: ``sr-core-eval`` (``sr_core.cli.eval``), the trainer's validation and calibration
(``sr_core.train``), the viewer's GT comparison (``metrics.iou_matrix``) and ``benchmarks/``.
Nothing here imports torch (the model's types are only named in hints), and this package
imports none of its modules eagerly: import from the module that owns the name.
"""
