"""File > Export all: every study exported on a pool thread behind a progress dialog.

The Exporter does the work (sr_viewer.qt.exporter); this is how the window runs it without
freezing: a window-modal progress dialog with Cancel, and a local event loop on the UI
thread while the pool thread reads, renders and writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEventLoop, QObject, Qt
from PySide6.QtWidgets import QFileDialog, QProgressDialog

from sr_viewer.qt.exporter import BatchReport
from sr_viewer.qt.workers import Runner

if TYPE_CHECKING:  # the window owns a BatchExport; only the type is needed here
    from sr_viewer.qt.main_window import MainWindow


class BatchExport(QObject):
    """Runs batch exports for a window (one at a time, on its own thread).

    Args:
        window: Whose exporter, notifier, identifiers choice and status bar it uses.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.runner = Runner(1, "export", self)

    def ask_and_run(self) -> BatchReport | None:
        """Ask for a folder, then run (nothing when the reader cancels the folder dialog)."""
        folder = QFileDialog.getExistingDirectory(self.window, "Export all studies to", self.window.dialog_folder())
        return self.run(Path(folder)) if folder else None

    def run(self, folder: Path) -> BatchReport | None:
        """Export every study into `folder` behind a window-modal progress dialog with Cancel.

        The UI thread runs a local event loop meanwhile, so the window keeps drawing and the
        dialog answers while files are read, rendered and written; the modal dialog keeps
        the settings from changing under the batch.

        Returns:
            The BatchReport (None on error; the reader is told either way).
        """
        window = self.window
        exporter, notifier, identifiers = window.exporter, window.notifier, window.include_identifiers
        total = len(window.model.studies)
        dialog = QProgressDialog("Exporting studies ...", "Cancel", 0, max(total, 1), window)
        dialog.setWindowTitle("Export all")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(500)
        outcome: dict = {}
        loop = QEventLoop()

        def work(task) -> None:
            def keep_going(done: int, count: int) -> bool:
                task.progress(done, count)
                return not task.cancelled

            # The report is kept here, not returned: a cancelled task's result is dropped.
            outcome["report"] = exporter.export_all(folder, identifiers, progress=keep_going)

        def progress(done: int, count: int) -> None:
            dialog.setValue(done)
            dialog.setLabelText(f"Exporting study {min(done + 1, count)} of {count} ...")
            window.statusBar().showMessage(f"Exporting {done}/{count} ...")

        task = self.runner.submit(work, name="export all", progress=progress,
                                  failed=lambda message: outcome.update(error=message), finished=loop.quit)
        dialog.canceled.connect(task.cancel)
        loop.exec()
        dialog.close()
        if "error" in outcome or "report" not in outcome:
            notifier.fail(f"Export failed: {outcome.get('error', 'stopped')}")
            return None
        report = outcome["report"]
        text = f"{len(report.written)} file(s) written to {folder}"
        text = (f"Export cancelled after {report.exported_studies} of {total} studies; " if report.cancelled
                else "Exported: ") + text
        if report.skipped:
            text += f"; skipped {len(report.skipped)}: " + "; ".join(report.skipped[:3])
        notifier.say(text)
        return report

    def shutdown(self) -> None:
        """Stop a running export (the window is closing)."""
        self.runner.shutdown()
