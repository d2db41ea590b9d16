"""pyqtgraph ImageItems with a faster render path for the two images the canvas shows.

pyqtgraph turns 8-bit data + an RGBA LUT into an Indexed8 QImage, which QPainter converts
to premultiplied ARGB on every paint (3.6 ms for 1024^2 on this project's 2-core machine),
and 16-bit data + levels into ARGB through makeARGB. These items build the QImage the
raster engine draws fastest (premultiplied ARGB32 / RGB32, 0.4-0.7 ms a paint) with one
numpy gather through a 32-bit LUT instead. Everything else (levels, setLookupTable,
setImage, bounds, opacity) is pyqtgraph's ImageItem; only render() differs, and it falls
back to pyqtgraph's own for data it does not expect.

pyqtgraph has no public way to hand paint() a rendered image, so `_finish` writes the three
attributes its render() sets (`qimage`, `_renderRequired`, `_unrenderable`). pyproject.toml
pins pyqtgraph to the versions tested, and tests/sr_viewer/qt/test_image_items.py fails by name
if a release changes them.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage


def _finish(item: pg.ImageItem, argb: np.ndarray, fmt: QImage.Format) -> None:
    height, width = argb.shape
    item._argb = argb  # the QImage below borrows this buffer: keep it alive with the item
    item.qimage = QImage(argb.data, width, height, width * 4, fmt)
    # pyqtgraph's own render() ends with these two flags; paint() checks them.
    item._renderRequired = False
    item._unrenderable = False


class HeatmapItem(pg.ImageItem):
    """uint8 index data through a 256-entry RGBA LUT, drawn as premultiplied ARGB32, with a
    cut: `set_mask(mask)` hides the pixels where mask == 0.

    The coloured image is made once per image or LUT; a threshold step only multiplies it by
    the mask (one pass over uint32, about a millisecond at 1024^2), never re-colours.
    """

    def __init__(self, *args, **kwargs) -> None:
        self._lut32: np.ndarray | None = None
        self._coloured: np.ndarray | None = None
        self.mask: np.ndarray | None = None
        super().__init__(*args, **kwargs)

    def setImage(self, image=None, autoLevels=None, **kargs):  # noqa: N802 (pyqtgraph API)
        self._coloured = None
        if image is not None and self.mask is not None and self.mask.shape != np.shape(image):
            self.mask = None
        return super().setImage(image, autoLevels, **kargs)

    def setLookupTable(self, lut, update=True):  # noqa: N802 (pyqtgraph API)
        rgba = np.asarray(lut, dtype=np.uint32)
        if rgba.ndim == 2 and rgba.shape == (256, 4):
            alpha = rgba[:, 3]
            r, g, b = ((rgba[:, i] * alpha + 127) // 255 for i in range(3))  # premultiply
            self._lut32 = (alpha << 24) | (r << 16) | (g << 8) | b
        else:
            self._lut32 = None
        self._coloured = None
        super().setLookupTable(lut, update)

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Show only the pixels where mask (uint8 0/1, image shape) is 1; None shows all."""
        self.mask = mask
        self._renderRequired = True  # pyqtgraph's flag: paint() re-renders
        self.update()

    def render(self):
        image = self.image
        if self._lut32 is None or image is None or image.dtype != np.uint8 or image.ndim != 2:
            return super().render()
        if self._coloured is None:
            self._coloured = np.take(self._lut32, image)
        if self.mask is None:
            argb = self._coloured
        else:
            argb = np.multiply(self._coloured, self.mask, dtype=np.uint32)
        _finish(self, argb, QImage.Format.Format_ARGB32_Premultiplied)


class GreyItem(pg.ImageItem):
    """uint16 grey data through levels (and an optional 256-entry grey LUT, e.g. invert),
    drawn as RGB32."""

    def __init__(self, *args, **kwargs) -> None:
        self._lut_key = None
        self._lut32: np.ndarray | None = None
        super().__init__(*args, **kwargs)

    def _grey_lut(self) -> np.ndarray:
        lo, hi = (float(v) for v in self.levels)
        extra = self.lut
        key = (lo, hi, None if extra is None else id(extra))
        if key != self._lut_key:
            span = hi - lo if hi != lo else 1.0
            grey = np.clip((np.arange(65536, dtype=np.float32) - lo) * (255.0 / span), 0, 255)
            grey = np.rint(grey).astype(np.uint8)
            if extra is not None:
                grey = np.asarray(extra, np.uint8).reshape(-1)[grey]
            grey = grey.astype(np.uint32)
            self._lut32 = np.uint32(0xFF000000) | (grey << 16) | (grey << 8) | grey
            self._lut_key = key
        return self._lut32

    def render(self):
        image = self.image
        extra = self.lut
        if (image is None or image.dtype != np.uint16 or image.ndim != 2 or self.levels is None
                or np.ndim(self.levels) != 1 or (extra is not None and np.size(extra) != 256)):
            return super().render()
        _finish(self, np.take(self._grey_lut(), image), QImage.Format.Format_RGB32)
