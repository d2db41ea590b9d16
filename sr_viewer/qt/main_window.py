"""The main window: canvas in the middle, studies on the left, model and overlay on the right.

It wires the Qt-free ViewerModel to its views and controllers, builds the menus from the
action table (actions.py: each action carries its command) and turns drops into opens.
Batch export (batch_export.py) and the model card (model_card.py) live in their own modules.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QToolButton,
    QWidget,
)

from sr_core.bundled import bundled_weights, default_weights
from sr_viewer.export import ExportError, export_name
from sr_viewer.qt import dialogs, model_card
from sr_viewer.qt.actions import ACTIONS, SUBMENUS, SubmenuSpec
from sr_viewer.qt.batch_export import BatchExport
from sr_viewer.qt.boxes_table import BoxesPanel, BoxesTable
from sr_viewer.qt.canvas import Canvas
from sr_viewer.qt.comparison import ComparisonController
from sr_viewer.qt.comparison_view import ComparisonTable, SplitView
from sr_viewer.qt.exporter import Exporter
from sr_viewer.qt.findings_panel import FindingsPanel
from sr_viewer.qt.getting_started import FirstStartHint
from sr_viewer.qt.inference import InferenceController
from sr_viewer.qt.model_panel import ModelPanel
from sr_viewer.qt.notify import Notifier
from sr_viewer.qt.overlay_panel import OverlayPanel
from sr_viewer.qt.session import SessionController
from sr_viewer.qt.study_list import StudyList
from sr_viewer.qt.study_loader import StudyLoader
from sr_viewer.qt.theme import app_icon, apply_theme
from sr_viewer.qt.undo import UndoController
from sr_viewer.settings import Settings
from sr_viewer.state import ViewerModel
from sr_viewer.state.comparison import Comparison
from sr_viewer.state.ground_truth import is_annotation_file
from sr_viewer.state.session import SUFFIX as SESSION_SUFFIX

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.dcm *.dicom);;All files (*)"
WEIGHTS_FILTER = "SR weights (*.safetensors);;All files (*)"
GT_FILTER = "Ground truth (test_gt.txt *.txt *.csv);;All files (*)"
# Not BBox_List_2017*.csv nor test_gt.txt: beside the images such a name is read as ground truth
# the next time the folder opens, and the reader's own boxes then come back frozen (not
# editable), twice over with a session's drawn boxes, and as a file the next save refuses.
DRAWN_BOXES_NAME = "drawn_boxes.csv"
MAX_ERROR_LINES = 8


class MainWindow(QMainWindow):
    """The viewer window.

    Args:
        settings: What to start from (default: read from the config folder).
        persist: Save settings on close and autosave the session (off for --screenshot
            and some tests).

    Signals:
        exposed(): the window was first shown (start-up benchmark marker).
    """

    exposed = Signal()

    def __init__(self, settings: Settings | None = None, persist: bool = True) -> None:
        super().__init__()
        self.settings = settings if settings is not None else Settings.load()
        self.persist = persist
        self.setWindowTitle("SR Viewer")
        self.setWindowIcon(app_icon())
        self.setObjectName("SRViewerMainWindow")
        self.setAcceptDrops(True)
        self.model = ViewerModel()
        self.notifier = Notifier(self)
        self.loader = StudyLoader(self.model, self.notifier, self)
        self.inference = InferenceController(self.model, self.notifier, self.loader, self)
        self.comparison = Comparison(self.model)
        self.compare = ComparisonController(self.model, self.comparison, self.inference, self.loader, self.notifier,
                                            self)
        self.exporter = Exporter(self.model, self.comparison)
        self.batch_export = BatchExport(self)
        self._error_box = None
        self._exposed = False

        self.canvas = Canvas(self.model)
        self.split_view = SplitView(self.model, self.comparison, self.canvas)
        self.compare_canvas = self.split_view.canvas_b
        self.setCentralWidget(self.split_view)
        self.study_list = StudyList(self.model)
        self.model_panel = ModelPanel(self.model)
        self.findings = FindingsPanel(self.model)
        self.overlay_panel = OverlayPanel(self.model)
        self.boxes_table = BoxesTable(self.model)
        self.boxes_panel = BoxesPanel(self.boxes_table)
        self.comparison_table = ComparisonTable(self.model, self.comparison)
        self.docks = {
            "studies": self._dock("Studies", self.study_list, Qt.DockWidgetArea.LeftDockWidgetArea),
            "model": self._dock("Model", self.model_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "findings": self._dock("Findings", self.findings, Qt.DockWidgetArea.RightDockWidgetArea),
            "overlay": self._dock("Overlay", self.overlay_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "boxes": self._dock("Boxes", self.boxes_panel, Qt.DockWidgetArea.RightDockWidgetArea),
            "comparison": self._dock("Comparison", self.comparison_table, Qt.DockWidgetArea.RightDockWidgetArea),
        }
        # The comparison table takes the boxes table's place while a comparison is open (a tab).
        self.tabifyDockWidget(self.docks["boxes"], self.docks["comparison"])
        self._build_status_bar()
        self.actions_by_name: dict[str, QAction] = {}
        self._build_menus()
        self._connect()
        self._apply_settings()
        self.undo = UndoController(self)
        self.session = SessionController(self, autosave=persist)
        self._comparison_changed(self.comparison.status)  # after restoreState: no comparison at start
        for widget in self.findChildren(QWidget):  # drops anywhere reach the window
            if widget.acceptDrops():
                widget.setAcceptDrops(False)

    # --- construction -----------------------------------------------------------------------

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.pixel_label = QLabel()
        self.pixel_label.setMinimumWidth(320)
        self.queue_bar = QProgressBar()
        self.queue_bar.setMaximumWidth(160)
        self.queue_bar.setVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.inference.cancel)
        self.first_start_hint = FirstStartHint()
        self.first_start_hint.setVisible(False)  # _apply_settings shows it on the first start
        bar.addWidget(self.first_start_hint, 1)  # hidden under a message, back after it
        bar.addPermanentWidget(self.pixel_label)
        bar.addPermanentWidget(self.queue_bar)
        bar.addPermanentWidget(self.cancel_button)

    def _build_menus(self) -> None:
        menus: dict[str, QMenu] = {}
        self.submenus: dict[str, QMenu] = {}
        submenu_after = {spec.after: spec for spec in SUBMENUS}
        groups = {"theme": QActionGroup(self), "device": QActionGroup(self)}
        for spec in ACTIONS:
            menu = menus.get(spec.menu) or menus.setdefault(spec.menu, self.menuBar().addMenu(spec.menu))
            action = QAction(spec.text, self)
            if spec.shortcut:
                action.setShortcut(QKeySequence(spec.shortcut))
            action.setToolTip(spec.tip or spec.text)
            action.setStatusTip(spec.tip)
            action.setCheckable(spec.checkable)
            action.triggered.connect(lambda checked=False, run=spec.run: run(self))
            for prefix, group in groups.items():
                if spec.name.startswith(prefix):
                    group.addAction(action)
            if spec.name.endswith("_alt"):
                self.addAction(action)  # shortcut only, not in the menu
            else:
                menu.addAction(action)
            if spec.separator:
                menu.addSeparator()
            if spec.name in submenu_after:
                sub = submenu_after[spec.name]
                self.submenus[sub.name] = self._submenu(menu, sub)
            self.actions_by_name[spec.name] = action
        self.recent_menu = self.submenus["recent"]
        view = menus["View"]
        view.addSeparator()
        panels = view.addMenu("Panels")
        for dock in self.docks.values():
            panels.addAction(dock.toggleViewAction())

    def _submenu(self, menu: QMenu, spec: SubmenuSpec) -> QMenu:
        """A submenu filled now and again each time it opens (its entries may have changed)."""
        submenu = menu.addMenu(spec.text)
        submenu.setObjectName(f"menu_{spec.name}")
        submenu.setToolTipsVisible(True)
        submenu.menuAction().setStatusTip(spec.tip)
        fill = getattr(self, f"fill_{spec.name}")
        submenu.aboutToShow.connect(lambda: fill(submenu))
        fill(submenu)
        return submenu

    def _connect(self) -> None:
        n, m = self.notifier, self.model
        n.info.connect(lambda text: self.statusBar().showMessage(text, 8000))
        n.error.connect(self._show_error)
        self.canvas.pixel_info.connect(self.pixel_label.setText)
        self.canvas.drawn_boxes.say = n.say
        self.inference.progress.connect(self._progress)
        self.model_panel.open_weights.connect(self.ask_open_weights)
        self.model_panel.show_card.connect(lambda: model_card.show(self))
        self.model_panel.cancel.connect(self.inference.cancel)
        self.model_panel.run.connect(self.run_model)
        self.model_panel.device_chosen.connect(self.set_device)
        self.overlay_panel.load_ground_truth.connect(self.ask_ground_truth)
        self.study_list.rerun_requested.connect(self.inference.run_again)
        self.split_view.remove_requested.connect(self.compare.remove)
        self.comparison.events.status_changed.connect(self._comparison_changed)
        view = m.view.events
        view.overlay_visible.connect(lambda on: self.actions_by_name["toggle_overlay"].setChecked(on))
        view.gt_visible.connect(lambda on: self.actions_by_name["toggle_gt"].setChecked(on))
        view.mode.connect(lambda mode: self.actions_by_name["toggle_mode"].setChecked(mode == "all"))
        view.invert.connect(lambda on: self.actions_by_name["invert"].setChecked(on))
        m.events.model_changed.connect(self._model_changed)
        m.events.current_changed.connect(lambda study: self._update_title())
        m.events.studies_added.connect(lambda studies: self._update_title())
        m.events.studies_removed.connect(lambda studies: self._update_title())

    def _apply_settings(self) -> None:
        s, m = self.settings, self.model
        s.restore_view(m.view)
        m.threshold_memory = {k: dict(v) for k, v in s.thresholds.items()}
        m.set_model_status(device=s.device if s.device in ("auto", "cpu", "cuda") else "auto")
        self.set_theme(s.theme)
        self.actions_by_name["include_identifiers"].setChecked(s.export_identifiers)
        for name, on in (("toggle_overlay", m.view.overlay_visible), ("toggle_gt", m.view.gt_visible),
                         ("toggle_mode", m.view.mode == "all"), ("invert", m.view.invert)):
            self.actions_by_name[name].setChecked(on)
        self.resize(1500, 950)
        self.resizeDocks([self.docks["studies"], self.docks["model"]], [260, 440], Qt.Orientation.Horizontal)
        if s.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(s.window_geometry.encode()))
        if s.window_state:
            self.restoreState(QByteArray.fromBase64(s.window_state.encode()))
        self._update_recent_menu()
        if not s.first_start_hint_shown:
            self.first_start_hint.setVisible(True)
            s.first_start_hint_shown = True  # saved with the rest: the next start shows none

    def store_settings(self) -> Settings:
        """Copy the session's state into self.settings (and save it when persisting)."""
        s, m = self.settings, self.model
        s.remember_view(m.view)
        s.thresholds = {k: dict(v) for k, v in m.threshold_memory.items()}
        s.device = m.model_status.device
        s.weights = str(m.model_status.weights) if m.model_status.weights else s.weights
        s.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
        s.window_state = bytes(self.saveState().toBase64()).decode()
        s.export_identifiers = self.actions_by_name["include_identifiers"].isChecked()
        if self.persist:
            try:
                s.save()
            except OSError as exc:
                log.warning("cannot save settings: %s", exc)
        return s

    # --- opening ----------------------------------------------------------------------------

    def open_paths(self, paths, remember: bool = True) -> None:
        """Open files and folders (as from the command line, a dialog or a drop); a session
        file (.srsession) opens its session."""
        paths = [Path(p) for p in paths]
        if remember:
            for path in paths:
                if path.exists():
                    self.settings.add_recent(path)
            self._update_recent_menu()
        sessions = [p for p in paths if p.suffix.lower() == SESSION_SUFFIX]
        for session in sessions:
            self.session.open_session(session)
        self.loader.open_paths([p for p in paths if p not in sessions])

    def load_weights(self, weights: str | Path | None) -> None:
        """Use a weights file (None: run without a model)."""
        self.inference.load_weights(weights)

    def open_weights(self, path: str | Path) -> None:
        """Use the weights file the reader chose (Model > Open weights or Bundled weights)
        and remember it for the next start."""
        self.load_weights(Path(path))
        self.settings.weights = str(path)

    def set_device(self, device: str) -> None:
        self.inference.set_device(device)
        self.compare.set_device(device)

    def open_comparison(self, path: str | Path) -> None:
        """Open a weights file as model B beside the shown model (Model > Open comparison
        weights or Bundled comparison weights)."""
        self.compare.open(Path(path))

    def _comparison_changed(self, status) -> None:
        active = self.comparison.active
        dock = self.docks["comparison"]
        if active == dock.isHidden():
            dock.setVisible(active)
            if active:
                dock.raise_()
        self.actions_by_name["remove_comparison"].setEnabled(active)
        for name in ("compare_threshold_up", "compare_threshold_down"):
            self.actions_by_name[name].setEnabled(active)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt API)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt API)
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # --- feedback ---------------------------------------------------------------------------

    def _show_error(self, text: str) -> None:
        self.statusBar().showMessage(text, 15000)
        box = self._error_box
        if box is not None and box.isVisible():
            lines = box.text().split("\n")[-(MAX_ERROR_LINES - 1):] + [text]
            box.setText("\n".join(lines))
            return
        self._error_box = dialogs.show_error(self, text)
        self._error_box.destroyed.connect(lambda *args: setattr(self, "_error_box", None))

    def _progress(self, done: int, total: int) -> None:
        busy = self.inference.busy
        self.model_panel.show_progress(done, total, busy)
        self.queue_bar.setVisible(total > 0)
        self.queue_bar.setRange(0, max(total, 1))
        self.queue_bar.setValue(done)
        self.queue_bar.setFormat(f"model {done}/{total}")
        self.cancel_button.setVisible(total > done)

    def _model_changed(self, status) -> None:
        for device in ("auto", "cpu", "cuda"):
            self.actions_by_name[f"device_{device}"].setChecked(status.device == device)
        self.actions_by_name["device_cuda"].setEnabled(status.cuda_available is not False)
        self.model_panel.show_progress(0, 0, status.state == "loading")

    def _update_title(self) -> None:
        study = self.model.current
        if study is None:
            self.setWindowTitle("SR Viewer")
            return
        index = self.model.studies.index(study) + 1 if study in self.model.studies else 0
        self.setWindowTitle(f"SR Viewer - {study.name} ({index}/{len(self.model.studies)})")

    def _update_recent_menu(self) -> None:
        self.fill_recent(self.recent_menu)

    def fill_recent(self, menu: QMenu) -> None:
        """File > Open recent: the recent files and folders (disabled while there are none)."""
        menu.clear()
        for text in self.settings.recent_files:
            action = menu.addAction(text)
            action.triggered.connect(lambda checked=False, p=text: self.open_paths([p]))
        menu.setEnabled(bool(self.settings.recent_files))

    def fill_bundled_weights(self, menu: QMenu) -> None:
        """Model > Bundled weights: every weights file shipped with the viewer, the default
        first and marked so, the loaded one checked; choosing one is Model > Open weights."""
        self._fill_weights_menu(menu, self.model.model_status.weights, self.open_weights)

    def fill_bundled_comparison(self, menu: QMenu) -> None:
        """Model > Bundled comparison weights: the same files; choosing one opens it as model B."""
        self._fill_weights_menu(menu, self.comparison.status.weights, self.open_comparison)

    def _fill_weights_menu(self, menu: QMenu, loaded: Path | None, choose) -> None:
        menu.clear()
        files, default = bundled_weights(), default_weights()
        if not files:  # an entry, not a disabled menu: a disabled menu never opens to refresh
            menu.addAction("(none in this installation)").setEnabled(False)
            return
        for path in files:
            action = menu.addAction(path.name + (" (default)" if path == default else ""))
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.setCheckable(True)
            action.setChecked(loaded is not None and Path(loaded) == path)
            action.triggered.connect(lambda checked=False, p=path: choose(p))

    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        if app is not None:
            self.settings.theme = apply_theme(app, name)
        self.actions_by_name["theme_dark"].setChecked(self.settings.theme == "dark")
        self.actions_by_name["theme_light"].setChecked(self.settings.theme == "light")

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if not self._exposed:
            self._exposed = True
            QTimer.singleShot(0, self.exposed.emit)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.store_settings()
        self.session.finish()  # a clean quit: nothing to offer back at the next start
        self.undo.shutdown()
        self.compare.shutdown()
        self.inference.shutdown()
        self.loader.runner.shutdown()
        self.batch_export.shutdown()
        super().closeEvent(event)

    # --- dialogs ----------------------------------------------------------------------------

    def dialog_folder(self) -> str:
        """Where file dialogs open: the folder last used, else home."""
        return self.settings.last_folder or str(Path.home())

    def _remember_folder(self, path: str | Path) -> None:
        path = Path(path)
        self.settings.last_folder = str(path if path.is_dir() else path.parent)

    def _save_path(self, title: str, name: str, filters: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path(self.dialog_folder()) / name), filters,
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return None
        self._remember_folder(path)
        return Path(path)

    def _export(self, what: str, write) -> Path | None:
        try:
            path = write()
        except (ExportError, OSError) as exc:
            self.notifier.fail(f"Export failed: {exc}")
            return None
        self.notifier.say(f"{what} written to {path}")
        return path

    @property
    def include_identifiers(self) -> bool:
        return self.actions_by_name["include_identifiers"].isChecked()

    # --- commands of actions.py that ask the reader first -----------------------------------

    def ask_open_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open X-ray images", self.dialog_folder(), IMAGE_FILTER)
        if paths:
            self._remember_folder(paths[0])
            self.open_paths(paths)

    def ask_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of X-ray images", self.dialog_folder())
        if folder:
            self._remember_folder(folder)
            self.open_paths([folder])

    def ask_ground_truth(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load ground truth", self.dialog_folder(), GT_FILTER)
        if path:
            self.loader.load_ground_truth(Path(path))

    def ask_open_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open SR weights", self.dialog_folder(), WEIGHTS_FILTER)
        if path:
            self._remember_folder(path)
            self.open_weights(path)

    def ask_open_comparison(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open comparison weights", self.dialog_folder(), WEIGHTS_FILTER)
        if path:
            self._remember_folder(path)
            self.open_comparison(path)

    def _exportable_current(self):
        """The current study if it can be exported, else None (and the reader is told)."""
        study = self.model.current
        if study is None or not study.readable:
            self.notifier.say("Nothing to export: open a readable study first")
            return None
        return study

    def export_png(self) -> None:
        """File > Export annotated PNG: A's picture, or with a comparison open A's beside B's."""
        study = self._exportable_current()
        if study is None:
            return
        if self.comparison.active:
            path = self._save_path("Export comparison PNG", export_name(study.path, ".png", "compare"),
                                   "PNG image (*.png)")
            if path:
                self._export("Comparison PNG",
                             lambda: self.exporter.export_comparison_png(study, path, self.include_identifiers))
            return
        path = self._save_path("Export annotated PNG", export_name(study.path, ".png"), "PNG image (*.png)")
        if path:
            self._export("Annotated PNG", lambda: self.exporter.export_png(study, path, self.include_identifiers))

    def export_dicom(self) -> None:
        study = self._exportable_current()
        if study is None:
            return
        path = self._save_path("Export DICOM Secondary Capture", export_name(study.path, ".dcm"), "DICOM (*.dcm)")
        if path:
            self._export("DICOM Secondary Capture", lambda: self.exporter.export_dicom(study, path, self.include_identifiers))

    def export_boxes(self) -> None:
        study = self.model.current
        if study is None:
            return
        path = self._save_path("Export boxes", export_name(study.path, ".csv", "boxes"), "CSV (*.csv);;JSON (*.json)")
        if path:
            self._export("Boxes", lambda: self.exporter.export_boxes([study], path, comparison=self.comparison.active))

    def ask_save_drawn_boxes(self) -> None:
        """File > Save drawn boxes: ask for a CSV (never a ground-truth file) and write it."""
        path, _ = QFileDialog.getSaveFileName(self, "Save drawn boxes",
                                              str(Path(self.dialog_folder()) / DRAWN_BOXES_NAME), "CSV (*.csv)")
        if path:
            self._remember_folder(path)
            self.save_drawn_boxes(path)

    def save_drawn_boxes(self, path: str | Path) -> Path | None:
        """Write every study's drawn boxes to `path`; a refusal or failure is one line."""
        try:
            target, count = self.exporter.save_drawn_boxes(path)
        except ExportError as exc:
            self.notifier.say(f"Drawn boxes not saved: {exc}")
            return None
        text = f"{count} drawn box{'es' if count != 1 else ''} saved to {target}"
        if is_annotation_file(target):
            text += "; named like NIH's box list, it is read as ground truth when images beside it are opened"
        self.notifier.say(text)
        return target

    def set_tool(self, name: str) -> None:
        """Measure > Distance tool / Box tool: the checked one is on, the other goes off."""
        on = self.actions_by_name[name].isChecked()
        other = "draw_box" if name == "measure_distance" else "measure_distance"
        if on:
            self.actions_by_name[other].setChecked(False)
        if name == "draw_box":
            self.canvas.set_drawing_boxes(on)
        else:
            self.canvas.set_measuring(on)

    def delete_measurement(self, every: bool = False) -> None:
        """Measure > Delete: the distance last drawn or adjusted (or all of the shown study);
        with the box tool on, the drawn box last drawn or adjusted."""
        study = self.model.current
        if study is None:
            return
        if self.canvas.drawing_boxes and not every:
            if not study.drawn_boxes.remove():
                self.notifier.say("No drawn box selected: draw one with the box tool (B) or drag one's corner")
            return
        if every:
            study.measurements.clear()
        elif not study.measurements.remove():
            self.notifier.say("No measurement selected: draw one with the distance tool (D) or drag one's handle")

    def run_model(self) -> None:
        """Model > Run: queue the studies not yet run (or say that there is no model)."""
        if self.inference.predictor is None:
            self.notifier.say("No model loaded: choose a weights file (Model > Open weights)")
            return
        self.inference.run_again()
