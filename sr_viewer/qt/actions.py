"""Every menu action as data: name, menu, text, shortcut, help. Help > Shortcuts lists them.

The main window builds a QAction per spec and connects it to its method of the same name
(`on_<name>`), so the list below is the single place that says what a key does. Submenus
whose entries are only known at run time (recent files, bundled weights) are data too:
the window places each after its action and fills it with `fill_<name>` when it opens.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionSpec:
    """One action: `name` maps to MainWindow.on_<name>."""

    name: str
    menu: str
    text: str
    shortcut: str = ""
    tip: str = ""
    checkable: bool = False


@dataclass(frozen=True)
class SubmenuSpec:
    """A submenu placed after the action `after`: `name` maps to MainWindow.fill_<name>."""

    name: str
    menu: str
    text: str
    after: str
    tip: str = ""


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_files", "File", "Open files ...", "Ctrl+O", "Open image files (PNG, JPEG, DICOM)"),
    ActionSpec("open_folder", "File", "Open folder ...", "Ctrl+Shift+O", "Open every image in a folder"),
    ActionSpec("load_ground_truth", "File", "Load ground truth ...", "Ctrl+G", "test_gt.txt or BBox_List_2017*.csv"),
    ActionSpec("export_png", "File", "Export annotated PNG ...", "Ctrl+E", "Image, boxes, contour and legend"),
    ActionSpec("export_dicom", "File", "Export DICOM Secondary Capture ...", "Ctrl+Shift+E",
               "Annotated image as DICOM referencing the source study"),
    ActionSpec("export_boxes", "File", "Export boxes (CSV/JSON) ...", "Ctrl+B", "Predicted and ground-truth boxes"),
    ActionSpec("export_all", "File", "Export all studies ...", "Ctrl+Alt+E", "PNG (+ DICOM SC) of every study and one CSV"),
    ActionSpec("include_identifiers", "File", "Include patient identifiers in exports", "",
               "Off: exports carry no name, ID or file name", checkable=True),
    ActionSpec("close_study", "File", "Close study", "Ctrl+W", "Remove the shown study from the list"),
    ActionSpec("quit", "File", "Quit", "Ctrl+Q"),
    ActionSpec("next_study", "Study", "Next study", "PgDown", "Also N"),
    ActionSpec("previous_study", "Study", "Previous study", "PgUp", "Also P"),
    ActionSpec("next_study_alt", "Study", "Next study (N)", "N"),
    ActionSpec("previous_study_alt", "Study", "Previous study (P)", "P"),
    ActionSpec("next_finding", "Study", "Next finding", ".", "Down the probability list"),
    ActionSpec("previous_finding", "Study", "Previous finding", ",", "Up the probability list"),
    ActionSpec("threshold_up", "Overlay", "Threshold +0.01", "]"),
    ActionSpec("threshold_down", "Overlay", "Threshold -0.01", "["),
    ActionSpec("threshold_up_big", "Overlay", "Threshold +0.05", "}"),
    ActionSpec("threshold_down_big", "Overlay", "Threshold -0.05", "{"),
    ActionSpec("reset_threshold", "Overlay", "Reset threshold to the weights'", "R"),
    ActionSpec("toggle_overlay", "Overlay", "Show overlay", "O", "Heatmap, contour and boxes on/off", checkable=True),
    ActionSpec("toggle_gt", "Overlay", "Show ground truth", "G", "Ground-truth boxes on/off", checkable=True),
    ActionSpec("toggle_mode", "Overlay", "All components", "M", "Largest component or all components", checkable=True),
    ActionSpec("fit", "View", "Fit to window", "F"),
    ActionSpec("actual_size", "View", "Actual size (1:1)", "1"),
    ActionSpec("zoom_in", "View", "Zoom in", "+"),
    ActionSpec("zoom_out", "View", "Zoom out", "-"),
    ActionSpec("invert", "View", "Invert grey", "I", checkable=True),
    ActionSpec("window_default", "View", "Window: file default", "W", "The DICOM window / the image as stored"),
    ActionSpec("window_full", "View", "Window: full range", "Shift+W"),
    ActionSpec("window_high", "View", "Window: high contrast", "Ctrl+1"),
    ActionSpec("window_low", "View", "Window: low contrast", "Ctrl+2"),
    ActionSpec("theme_dark", "View", "Dark theme (reading room)", "Ctrl+Shift+D", checkable=True),
    ActionSpec("theme_light", "View", "Light theme", "Ctrl+Shift+L", checkable=True),
    ActionSpec("run_model", "Model", "Run on unprocessed studies", "Ctrl+R"),
    ActionSpec("cancel_inference", "Model", "Cancel inference queue", "Esc"),
    ActionSpec("open_weights", "Model", "Open weights ...", "Ctrl+Shift+W", "Any sr-core-train .safetensors release"),
    ActionSpec("model_card", "Model", "Model card ...", "Ctrl+I"),
    ActionSpec("device_auto", "Model", "Device: auto", "", checkable=True),
    ActionSpec("device_cpu", "Model", "Device: CPU", "", checkable=True),
    ActionSpec("device_cuda", "Model", "Device: GPU (CUDA)", "", checkable=True),
    ActionSpec("shortcuts", "Help", "Keyboard shortcuts", "F1"),
    ActionSpec("about", "Help", "About SR Viewer"),
)

SUBMENUS: tuple[SubmenuSpec, ...] = (
    SubmenuSpec("recent", "File", "Open recent", "open_folder"),
    SubmenuSpec("bundled_weights", "Model", "Bundled weights", "open_weights",
                "The weights shipped with the viewer (resources/weights)"),
)

MOUSE_HELP = (
    ("Left drag", "Pan"),
    ("Wheel", "Zoom"),
    ("Right drag", "Window/level: left-right = width, up-down = level"),
    ("Drop files/folders", "Open them (anywhere on the window)"),
)
