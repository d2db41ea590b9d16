"""The fast render path of image_items.py leans on pyqtgraph privates: these tests say so loudly.

HeatmapItem and GreyItem hand pyqtgraph's ImageItem.paint a QImage of their own by writing
`qimage`, `_renderRequired` and `_unrenderable`, the three names ImageItem.render() sets
and paint() reads (pyqtgraph has no public way to supply the rendered image). pyproject.toml
pins pyqtgraph to the versions tested; a new version that renames them fails here, naming
the attribute, rather than as a canvas that silently stops updating.
"""

from __future__ import annotations

import inspect

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QColor, QImage, QPainter

from sr_viewer.qt.image_items import GreyItem, HeatmapItem

PRIVATES = ("self.qimage", "self._renderRequired", "self._unrenderable")


@pytest.mark.parametrize("name", PRIVATES)
def test_pyqtgraph_render_and_paint_still_use_the_attributes_image_items_write(name):
    render, paint = inspect.getsource(pg.ImageItem.render), inspect.getsource(pg.ImageItem.paint)
    assert name in render and name in paint, (
        f"pyqtgraph {pg.__version__} ImageItem no longer uses {name}: sr_viewer/qt/image_items.py "
        "writes it; adapt it before widening the pyqtgraph pin in pyproject.toml")


def painted(item: pg.ImageItem, width: int, height: int) -> QImage:
    """What item.paint draws onto a black canvas of the image's size."""
    canvas = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    canvas.fill(QColor(0, 0, 0))
    painter = QPainter(canvas)
    item.paint(painter)
    painter.end()
    return canvas


def test_heatmap_paints_its_own_image_and_repaints_after_a_new_mask(qapp):
    item = HeatmapItem(autoDownsample=False, axisOrder="row-major")
    item.setImage(np.full((4, 6), 200, np.uint8), autoLevels=False, levels=(0, 255))
    lut = np.zeros((256, 4), np.uint8)
    lut[:, 0], lut[:, 3] = 255, 255  # every index: opaque red
    item.setLookupTable(lut)
    mask = np.zeros((4, 6), np.uint8)
    mask[1:3, 2:4] = 1
    item.set_mask(mask)
    first = painted(item, 6, 4)
    assert item.qimage.format() == QImage.Format.Format_ARGB32_Premultiplied  # our render, not pyqtgraph's
    assert first.pixelColor(2, 1) == QColor(255, 0, 0) and first.pixelColor(0, 0) == QColor(0, 0, 0)
    item.set_mask(np.ones((4, 6), np.uint8))  # paint() must notice (the _renderRequired flag)
    assert painted(item, 6, 4).pixelColor(0, 0) == QColor(255, 0, 0)


def test_grey_paints_its_own_image_through_the_levels(qapp):
    item = GreyItem(autoDownsample=False, axisOrder="row-major")
    item.setImage(np.array([[0, 1000, 2000]], np.uint16), autoLevels=False, levels=(0, 2000))
    out = painted(item, 3, 1)
    assert item.qimage.format() == QImage.Format.Format_RGB32
    assert [out.pixelColor(x, 0).red() for x in range(3)] == [0, 128, 255]
