"""sr_core.evaluation.reports: the published comparison table beside ours."""

from sr_core.evaluation.metrics import localization_report
from sr_core.evaluation.reports import (
    WANG2017_LABEL,
    WANG2017_TABLE,
    format_comparison_table,
    report_name,
    report_table,
)

from .conftest import record


# --- published comparison ---------------------------------------------------------------------


def test_wang_table_holds_the_eight_findings():
    assert list(WANG2017_TABLE) == ["T(IoBB)0.1", "T(IoU)0.1", "T(IoU)0.3", "T(IoU)0.5"]
    for row in WANG2017_TABLE.values():
        assert len(row) == 8
    assert WANG2017_TABLE["T(IoBB)0.1"]["Cardiomegaly"] == 0.993
    assert WANG2017_TABLE["T(IoU)0.5"]["Nodule"] == 0.013


def test_comparison_table_puts_ours_beside_theirs():
    records = [
        record("Cardiomegaly", [(0, 0, 10, 10)], [(0, 0, 10, 10)]),
        record("Nodule", [], [(0, 0, 10, 10)]),
    ]
    text = format_comparison_table(localization_report(records))
    assert WANG2017_LABEL in text
    cardiomegaly = next(line for line in text.splitlines() if line.startswith("Cardiomegaly"))
    assert cardiomegaly.split()[1:] == ["1", "1.000", "0.993", "1.000", "0.938", "1.000", "0.459", "1.000", "0.178"]
    atelectasis = next(line for line in text.splitlines() if line.startswith("Atelectasis"))
    assert atelectasis.split()[1:4] == ["-", "-", "0.728"]  # not in our report


def test_comparison_table_reads_findings_from_the_accuracies():
    report = localization_report([record("Mass", [(0, 0, 10, 10)], [(0, 0, 10, 10)])], iou_thresholds=[0.1])
    report["counts"] = {"images": 1, "records": 1}  # a caller may reuse the key for its own counts
    text = format_comparison_table(report)
    assert not any(line.startswith(("images", "records")) for line in text.splitlines())
    mass = next(line for line in text.splitlines() if line.startswith("Mass"))
    assert mass.split()[1:6] == ["-", "1.000", "0.435", "1.000", "0.400"]
    assert mass.split()[6] == "-"  # IoU 0.3 not computed: no number on our side


def test_comparison_table_puts_two_reports_side_by_side():
    gt = [(0, 0, 10, 10)]
    model = localization_report([record("Mass", [(0, 0, 10, 10)], gt), record("Nodule", [], gt)])
    baseline = localization_report([record("Mass", [(0, 0, 10, 20)], gt), record("Nodule", [(0, 0, 10, 10)], gt)])
    table = report_table(baseline)
    # (0,0,10,20) on (0,0,10,10): IoU 0.5, IoBB 0.5.
    assert table["T(IoU)0.3"] == {"Mass": 1.0, "Nodule": 1.0}
    assert table["T(IoU)0.5"] == {"Mass": 0.0, "Nodule": 1.0}
    model.update(weights="sr_vmamba_nano.safetensors", baseline=None, source="sr_vmamba_nano.safetensors")
    baseline.update(weights=None, baseline="class-prior", source="class-prior baseline (mean GT boxes of test)")
    text = format_comparison_table(model, table, label=report_name(baseline))
    assert text.splitlines()[0] == "GT-known localization accuracy: sr_vmamba_nano.safetensors vs class-prior"
    # Each column is headed by its report's name (the weights without .safetensors).
    assert text.splitlines()[2].split() == ["finding"] + ["sr_vmamba_nano", "class-prior"] * 4
    assert "ours" not in text and "theirs" not in text
    rows = {line.split()[0]: line.split()[2:] for line in text.splitlines()[3:5]}
    # T(IoBB)0.1, T(IoU)0.1, T(IoU)0.3, T(IoU)0.5: the model then the baseline
    assert rows["Mass"] == ["1.000", "1.000", "1.000", "1.000", "1.000", "1.000", "1.000", "0.000"]
    assert rows["Nodule"] == ["0.000", "1.000", "0.000", "1.000", "0.000", "1.000", "0.000", "1.000"]
    class_mean = next(line for line in text.splitlines() if line.startswith("class mean")).split()[3:]
    assert class_mean[-2:] == ["0.500", "0.500"]  # the baseline's class mean at IoU 0.5
