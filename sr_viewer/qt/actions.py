"""Every menu action as data: name, menu, text, shortcut, help and what it does.

The main window builds a QAction per spec and runs `spec.run(window)` when it is triggered,
so the list below is the single place that says what a key does (Help > Shortcuts lists
them too). Submenus whose entries are only known at run time (recent files, bundled
weights) are data as well: the window places each after its action and fills it with
`fill_<name>` when it opens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sr_viewer.qt import dialogs, getting_started, model_card
from sr_viewer.qt.exporter import ask_export_presentation_state, ask_export_structured_report
from sr_viewer.state.window import PRESETS

if TYPE_CHECKING:  # the window imports this table; the commands only need its type
    from sr_viewer.qt.main_window import MainWindow

Command = Callable[["MainWindow"], object]


@dataclass(frozen=True)
class ActionSpec:
    """One action: `run(window)` is what it does; `name` is how the window finds its QAction.

    Attributes:
        separator: A menu separator follows it.
    """

    name: str
    menu: str
    text: str
    shortcut: str = ""
    tip: str = ""
    checkable: bool = False
    separator: bool = False
    run: Command = field(kw_only=True)


@dataclass(frozen=True)
class SubmenuSpec:
    """A submenu placed after the action `after`: `name` maps to MainWindow.fill_<name>."""

    name: str
    menu: str
    text: str
    after: str
    tip: str = ""


def _study_step(offset: int) -> Command:
    return lambda w: w.model.step(offset)


def _threshold_step(delta: float) -> Command:
    return lambda w: w.model.set_threshold(round(w.model.threshold + delta, 3))


def _compare_threshold_step(delta: float) -> Command:
    return lambda w: w.comparison.set_threshold(round(w.comparison.threshold + delta, 3))


def _toggle(setting: str) -> Command:
    return lambda w: w.model.view.toggle(setting)


def _window_preset(index: int) -> Command:
    return lambda w: w.model.set_window(PRESETS[index][1])


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_files", "File", "Open files ...", "Ctrl+O", "Open image files (PNG, JPEG, DICOM)",
               run=lambda w: w.ask_open_files()),
    ActionSpec("open_folder", "File", "Open folder ...", "Ctrl+Shift+O", "Open every image in a folder",
               separator=True, run=lambda w: w.ask_open_folder()),
    ActionSpec("open_session", "File", "Open session ...", "Ctrl+Alt+O",
               "Reopen saved studies with their finding, threshold, window, zoom, boxes and measurements",
               run=lambda w: w.session.ask_open()),
    ActionSpec("save_session", "File", "Save session as ...", "Ctrl+Shift+S",
               "The open studies and everything set on them, as a .srsession file", separator=True,
               run=lambda w: w.session.ask_save()),
    ActionSpec("load_ground_truth", "File", "Load ground truth ...", "Ctrl+G", "test_gt.txt or BBox_List_2017*.csv",
               run=lambda w: w.ask_ground_truth()),
    ActionSpec("export_png", "File", "Export annotated PNG ...", "Ctrl+E", "Image, boxes, contour and legend",
               run=lambda w: w.export_png()),
    ActionSpec("export_dicom", "File", "Export DICOM Secondary Capture ...", "Ctrl+Shift+E",
               "Annotated image as DICOM referencing the source study", run=lambda w: w.export_dicom()),
    ActionSpec("export_presentation_state", "File", "Export DICOM presentation state ...", "Ctrl+Shift+P",
               "Boxes, contour, ground truth and distances as editable layers over the DICOM source",
               run=ask_export_presentation_state),
    ActionSpec("export_structured_report", "File", "Export DICOM structured report ...", "Ctrl+Shift+R",
               "TID 1500 report: each box's coded finding and probability, and the distances",
               run=ask_export_structured_report),
    ActionSpec("export_boxes", "File", "Export boxes (CSV/JSON) ...", "Ctrl+B", "Predicted and ground-truth boxes",
               run=lambda w: w.export_boxes()),
    ActionSpec("save_drawn_boxes", "File", "Save drawn boxes ...", "Ctrl+Shift+B",
               "The boxes you drew, every study, as a BBox_List_2017 CSV (sr-core-eval and the importer read it)",
               run=lambda w: w.ask_save_drawn_boxes()),
    ActionSpec("export_all", "File", "Export all studies ...", "Ctrl+Alt+E", "PNG (+ DICOM SC) of every study and one CSV",
               separator=True, run=lambda w: w.batch_export.ask_and_run()),
    ActionSpec("include_identifiers", "File", "Include patient identifiers in exports", "",
               "Off: exports carry no name, ID or file name", checkable=True, separator=True,
               run=lambda w: setattr(w.settings, "export_identifiers", w.include_identifiers)),
    ActionSpec("close_study", "File", "Close study", "Ctrl+W", "Remove the shown study from the list",
               run=lambda w: w.model.remove_studies([w.model.current])),
    ActionSpec("quit", "File", "Quit", "Ctrl+Q", run=lambda w: w.close()),
    ActionSpec("undo", "Edit", "Undo", "Ctrl+Z",
               "Undo the last threshold, window/level, drawn box or measurement change on the shown study",
               run=lambda w: w.undo.undo()),
    ActionSpec("redo", "Edit", "Redo", "Ctrl+Shift+Z", "Redo what Undo undid on the shown study",
               run=lambda w: w.undo.redo()),
    ActionSpec("redo_alt", "Edit", "Redo (Ctrl+Y)", "Ctrl+Y", run=lambda w: w.undo.redo()),
    ActionSpec("next_study", "Study", "Next study", "PgDown", "Also N", run=_study_step(+1)),
    ActionSpec("previous_study", "Study", "Previous study", "PgUp", "Also P", run=_study_step(-1)),
    ActionSpec("next_study_alt", "Study", "Next study (N)", "N", run=_study_step(+1)),
    ActionSpec("previous_study_alt", "Study", "Previous study (P)", "P", run=_study_step(-1)),
    ActionSpec("next_finding", "Study", "Next finding", ".", "Down the probability list", separator=True,
               run=lambda w: w.model.step_finding(+1)),
    ActionSpec("previous_finding", "Study", "Previous finding", ",", "Up the probability list",
               run=lambda w: w.model.step_finding(-1)),
    ActionSpec("threshold_up", "Overlay", "Threshold +0.01", "]", run=_threshold_step(+0.01)),
    ActionSpec("threshold_down", "Overlay", "Threshold -0.01", "[", run=_threshold_step(-0.01)),
    ActionSpec("threshold_up_big", "Overlay", "Threshold +0.05", "}", run=_threshold_step(+0.05)),
    ActionSpec("threshold_down_big", "Overlay", "Threshold -0.05", "{", run=_threshold_step(-0.05)),
    ActionSpec("reset_threshold", "Overlay", "Reset threshold to the weights'", "R", separator=True,
               run=lambda w: w.model.reset_threshold()),
    ActionSpec("toggle_overlay", "Overlay", "Show overlay", "O", "Heatmap, contour and boxes on/off", checkable=True,
               run=_toggle("overlay_visible")),
    ActionSpec("toggle_gt", "Overlay", "Show ground truth", "G", "Ground-truth boxes on/off", checkable=True,
               run=_toggle("gt_visible")),
    ActionSpec("toggle_mode", "Overlay", "All components", "M", "Largest component or all components", checkable=True,
               separator=True, run=_toggle("mode")),
    ActionSpec("fit", "View", "Fit to window", "F", run=lambda w: w.canvas.fit()),
    ActionSpec("actual_size", "View", "Actual size (1:1)", "1", separator=True, run=lambda w: w.canvas.actual_size()),
    ActionSpec("zoom_in", "View", "Zoom in", "+", run=lambda w: w.canvas.zoom(1.25)),
    ActionSpec("zoom_out", "View", "Zoom out", "-", run=lambda w: w.canvas.zoom(0.8)),
    ActionSpec("invert", "View", "Invert grey", "I", checkable=True, run=_toggle("invert")),
    ActionSpec("window_default", "View", "Window: file default", "W", "The DICOM window / the image as stored",
               run=_window_preset(0)),
    ActionSpec("window_full", "View", "Window: full range", "Shift+W", run=_window_preset(1)),
    ActionSpec("window_high", "View", "Window: high contrast", "Ctrl+1", run=_window_preset(2)),
    ActionSpec("window_low", "View", "Window: low contrast", "Ctrl+2", separator=True, run=_window_preset(3)),
    ActionSpec("theme_dark", "View", "Dark theme (reading room)", "Ctrl+Shift+D", checkable=True,
               run=lambda w: w.set_theme("dark")),
    ActionSpec("theme_light", "View", "Light theme", "Ctrl+Shift+L", checkable=True, run=lambda w: w.set_theme("light")),
    ActionSpec("measure_distance", "Measure", "Distance tool", "D",
               "On: a left drag on the image measures a distance (drag its handles to adjust)", checkable=True,
               run=lambda w: w.set_tool("measure_distance")),
    ActionSpec("draw_box", "Measure", "Box tool (ground truth)", "B",
               "On: a left drag on the image draws a ground-truth box for the shown finding "
               "(drag its corners to resize, its inside to move)", checkable=True,
               run=lambda w: w.set_tool("draw_box")),
    ActionSpec("delete_measurement", "Measure", "Delete measurement or drawn box", "Del",
               "The distance last drawn or adjusted; with the box tool on, the box last drawn or adjusted",
               run=lambda w: w.delete_measurement()),
    ActionSpec("clear_measurements", "Measure", "Clear measurements", "Ctrl+Del", "Every distance of the shown study",
               run=lambda w: w.delete_measurement(every=True)),
    ActionSpec("run_model", "Model", "Run on unprocessed studies", "Ctrl+R", run=lambda w: w.run_model()),
    ActionSpec("cancel_inference", "Model", "Cancel inference queue", "Esc", separator=True,
               run=lambda w: w.inference.cancel()),
    ActionSpec("open_weights", "Model", "Open weights ...", "Ctrl+Shift+W", "Any sr-core-train .safetensors release",
               run=lambda w: w.ask_open_weights()),
    ActionSpec("model_card", "Model", "Model card ...", "Ctrl+I", separator=True, run=model_card.show),
    ActionSpec("open_comparison", "Model", "Open comparison weights ...", "Ctrl+Alt+W",
               "A second .safetensors beside the model: the same study side by side, pan, zoom and window linked",
               run=lambda w: w.ask_open_comparison()),
    ActionSpec("remove_comparison", "Model", "Remove comparison", "Ctrl+Alt+Shift+W",
               "Close the comparison model: the viewer shows the model alone again",
               run=lambda w: w.compare.remove()),
    ActionSpec("compare_threshold_up", "Model", "Comparison threshold +0.01", "Alt+]",
               "Model B's threshold (the slider above its canvas)", run=_compare_threshold_step(+0.01)),
    ActionSpec("compare_threshold_down", "Model", "Comparison threshold -0.01", "Alt+[", separator=True,
               run=_compare_threshold_step(-0.01)),
    ActionSpec("device_auto", "Model", "Device: auto", "", checkable=True, run=lambda w: w.set_device("auto")),
    ActionSpec("device_cpu", "Model", "Device: CPU", "", checkable=True, run=lambda w: w.set_device("cpu")),
    ActionSpec("device_cuda", "Model", "Device: GPU (CUDA)", "", checkable=True, run=lambda w: w.set_device("cuda")),
    ActionSpec("getting_started", "Help", "Getting started", "Shift+F1",
               "What the map is, what the threshold does, how far to trust the model", run=getting_started.show),
    ActionSpec("shortcuts", "Help", "Keyboard shortcuts", "F1",
               run=lambda w: dialogs.show_shortcuts(w, shortcut_rows())),
    ActionSpec("about", "Help", "About SR Viewer", run=dialogs.show_about),
)

SUBMENUS: tuple[SubmenuSpec, ...] = (
    SubmenuSpec("recent", "File", "Open recent", "open_folder"),
    SubmenuSpec("bundled_weights", "Model", "Bundled weights", "open_weights",
                "The weights shipped with the viewer (resources/weights)"),
    SubmenuSpec("bundled_comparison", "Model", "Bundled comparison weights", "open_comparison",
                "Compare with one of the weights shipped with the viewer (resources/weights)"),
)

MOUSE_HELP = (
    ("Left drag", "Pan"),
    ("Wheel", "Zoom"),
    ("Right drag", "Window/level: left-right = width, up-down = level"),
    ("Left drag, distance tool on (D)", "Measure a distance; drag its handles to adjust, right-click it to remove"),
    ("Left drag, box tool on (B)", "Draw a ground-truth box for the shown finding; drag its corners or inside, "
     "right-click it to remove"),
    ("Drop files/folders", "Open them (anywhere on the window)"),
)


def shortcut_rows() -> list[tuple[str, str]]:
    """(key, what it does) for Help > Shortcuts: every action with a key, then the mouse."""
    return [(a.shortcut, f"{a.menu}: {a.text.rstrip(' .')}") for a in ACTIONS if a.shortcut] + list(MOUSE_HELP)
