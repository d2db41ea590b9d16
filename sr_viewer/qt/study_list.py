"""The study list: thumbnail, name and status of every open study; selecting one shows it."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem

from sr_viewer.state import Status, Study, ViewerModel

STATUS_COLOURS = {
    Status.QUEUED: "#9aa0a6",
    Status.RUNNING: "#f9ab00",
    Status.DONE: "#34a853",
    Status.ERROR: "#ea4335",
    Status.CANCELLED: "#9aa0a6",
    Status.OPENED: "#8ab4f8",
}


def thumbnail_icon(thumbnail) -> QIcon:
    """A QIcon from a uint8 HxW thumbnail (copied: the array may go away)."""
    height, width = thumbnail.shape
    image = QImage(thumbnail.data, width, height, thumbnail.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QIcon(QPixmap.fromImage(image))


class StudyList(QListWidget):
    """Shows ViewerModel.studies; forwards selection to model.set_current.

    Signals:
        rerun_requested(list): the reader asked to run the model again on studies.
    """

    rerun_requested = Signal(list)

    def __init__(self, model: ViewerModel, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.setIconSize(QSize(56, 56))
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        # An error line wraps to the list's width (rows grow to fit it) instead of being cut off
        # behind a horizontal scroll bar; the tooltip carries the path and the whole line too.
        self.setWordWrap(True)
        self.setUniformItemSizes(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)  # re-wrap when the dock is resized
        self.setAcceptDrops(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self._items: dict[int, QListWidgetItem] = {}
        self._syncing = False
        remove = QAction("Close selected studies", self)
        remove.triggered.connect(lambda: model.remove_studies(self.selected_studies()))
        rerun = QAction("Run the model again on selected", self)
        rerun.triggered.connect(lambda: self.rerun_requested.emit(self.selected_studies()))
        self.addActions([rerun, remove])

        model.events.studies_added.connect(self._added)
        model.events.studies_removed.connect(self._removed)
        model.events.study_changed.connect(self._changed)
        model.events.current_changed.connect(self._current_changed)
        self.currentItemChanged.connect(self._item_chosen)
        self._added(model.studies)

    def selected_studies(self) -> list[Study]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in self.selectedItems()]

    def item_for(self, study: Study) -> QListWidgetItem | None:
        return self._items.get(id(study))

    def _added(self, studies: list[Study]) -> None:
        for study in studies:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, study)
            self._items[id(study)] = item
            self.addItem(item)
            self._changed(study)

    def _removed(self, studies: list[Study]) -> None:
        for study in studies:
            item = self._items.pop(id(study), None)
            if item is not None:
                self.takeItem(self.row(item))

    def _changed(self, study: Study) -> None:
        item = self._items.get(id(study))
        if item is None:
            return
        item.setText(f"{study.name}\n{study.status_text()}")
        item.setToolTip(f"{study.path}\n{study.status_text()}")
        if study.status in (Status.ERROR, Status.RUNNING):
            item.setForeground(QBrush(QColor(STATUS_COLOURS[study.status])))
        else:
            item.setData(Qt.ItemDataRole.ForegroundRole, None)  # the theme's text colour
        if study.thumbnail is not None and item.data(Qt.ItemDataRole.DecorationRole) is None:
            item.setIcon(thumbnail_icon(study.thumbnail))

    def _current_changed(self, study: Study | None) -> None:
        item = self._items.get(id(study)) if study is not None else None
        self._syncing = True
        try:
            self.setCurrentItem(item)
            if item is not None:
                self.scrollToItem(item)
        finally:
            self._syncing = False

    def _item_chosen(self, current: QListWidgetItem | None, previous) -> None:
        if self._syncing or current is None:
            return
        self.model.set_current(current.data(Qt.ItemDataRole.UserRole))
