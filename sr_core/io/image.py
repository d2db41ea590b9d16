"""The decoded image every reader returns (`XrayImage`), the one error they raise, and limits.

Window units. `pixels` is display-ready grey in [0, 1]: the file's own VOI (DICOM window or
VOI LUT) and the MONOCHROME1 inversion are already applied, so a viewer that windows
`pixels` starts from the identity window (0.5, 1.0). A viewer that wants to re-window the
original data uses `XrayImage.windowed(center, width)`, whose units are fractions of
`raw_range` (0 = lowest modality value, 1 = highest). `XrayImage.window` is the file's own
window in those units, so `image.windowed(*image.window)` reproduces `pixels` (up to the
half-unit offsets of DICOM's LINEAR function). For PNG/JPEG there is no `raw`: the
normalized data are `pixels` themselves, and the same call windows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Refuse images with a side longer than this (checked from the header, before decoding).
MAX_SIDE = 20_000
#: Refuse images (all frames together) with more pixels than this, before decoding.
MAX_PIXELS = 400_000_000
#: Refuse images with a side shorter than this: nothing to localise in them.
MIN_SIDE = 16
#: Refuse files larger than this before reading them into memory.
MAX_FILE_BYTES = 2 * 1024**3

#: Metadata keys that identify a person or a place; present only with include_identifiers=True.
IDENTIFIER_KEYS = (
    "patient_name",
    "patient_id",
    "patient_birth_date",
    "accession_number",
    "institution_name",
)


class ImageReadError(ValueError):
    """A file could not be read as an image; `str()` is one line naming the file and the cause.

    Attributes:
        path: The file that failed.
        cause: Why, in a few words (no newlines, no traceback text).
    """

    def __init__(self, path: str | Path, cause: str) -> None:
        self.path = Path(path)
        self.cause = one_line(cause) or "unknown error"
        super().__init__(f"cannot read {self.path.name or str(self.path)!r}: {self.cause}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the error picklable across worker processes despite the two-argument init.
        return (type(self), (self.path, self.cause))


def one_line(message: BaseException | str, limit: int | None = None) -> str:
    """`message` as one line: its whitespace, newlines included, folded to single spaces.

    Args:
        message: An exception (an empty one gives its type name) or a text.
        limit: Longer lines are cut to this many characters, ending in "..."; None keeps all.
    """
    text = " ".join(str(message).split())
    if not text and isinstance(message, BaseException):
        text = type(message).__name__
    return text if limit is None or len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def short_cause(exc: BaseException) -> str:
    """One short line for an exception: its first line, trimmed, or else its type name."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    return (text[:160] + "...") if len(text) > 160 else (text or type(exc).__name__)


def check_dimensions(path: Path, width: int, height: int, frames: int = 1) -> None:
    """Refuse sizes that are implausibly small or too large to decode safely.

    Args:
        path: The file, for the message.
        width: Columns claimed by the header.
        height: Rows claimed by the header.
        frames: Number of frames claimed by the header (DICOM).

    Raises:
        ImageReadError: If a side is below MIN_SIDE, above MAX_SIDE, or the total pixel
            count of all frames exceeds MAX_PIXELS.
    """
    if width <= 0 or height <= 0:
        raise ImageReadError(path, f"header claims an empty image ({width}x{height} px)")
    if width > MAX_SIDE or height > MAX_SIDE or width * height * max(frames, 1) > MAX_PIXELS:
        frames_text = f" x {frames} frames" if frames > 1 else ""
        raise ImageReadError(
            path,
            f"image too large ({width}x{height} px{frames_text}); refusing to decode "
            f"(limit {MAX_SIDE} px a side, {MAX_PIXELS // 1_000_000} megapixels): "
            "corrupt header or decompression bomb",
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageReadError(
            path, f"image too small ({width}x{height} px; at least {MIN_SIDE} px a side needed)"
        )


def to_unit_range(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear window: maps [center - width/2, center + width/2] to [0, 1], clipped, float32."""
    width = max(float(width), 1e-12)
    out = np.asarray(values, dtype=np.float32) - np.float32(center - width / 2)
    out /= np.float32(width)
    return np.clip(out, 0.0, 1.0, out=out)


@dataclass(repr=False, eq=False)
class XrayImage:
    """A decoded, display-ready grey image and what is known about it.

    Attributes:
        pixels: float32 HxW in [0, 1], display-ready (modality LUT, VOI, MONOCHROME1 done).
        path: The source file, or None for images made in memory.
        source_kind: "png", "jpeg" or "dicom" (other producers may use their own word).
        pixel_spacing: (row, column) spacing in mm, or None if unknown.
        pixel_spacing_kind: "PixelSpacing" (at the patient) or "ImagerPixelSpacing"
            (at the detector), or None.
        magnification_factor: DICOM EstimatedRadiographicMagnificationFactor, read only with
            ImagerPixelSpacing (None otherwise, or when absent): the spacing at the patient
            is `pixel_spacing` divided by it (DICOM PS3.3 C.8.11.7); see `patient_spacing`.
        window: The file's default window (center, width) in fractions of `raw_range`,
            or None if the file had none (see the module docstring for the units).
        bits_stored: Bits per sample in the source (8, 16, 10, 12 ...).
        metadata: De-identified display metadata (modality, view_position, body_part,
            study_date, manufacturer, photometric_interpretation, transfer_syntax,
            number_of_frames ...). Identifier keys (IDENTIFIER_KEYS) only on request.
        notices: Human-readable remarks about how the file was shown.
        raw: float32 HxW of modality values (after the modality LUT, before VOI), DICOM only.
        raw_range: (lowest, highest) modality value; for PNG/JPEG the bit-depth range.
        inverted: True when `pixels` were inverted for MONOCHROME1 (so `windowed` inverts).
        width: Columns of `pixels` (the original size; derived, not passed).
        height: Rows of `pixels` (derived, not passed).
    """

    pixels: np.ndarray
    path: Path | None = None
    source_kind: str = "array"
    pixel_spacing: tuple[float, float] | None = None
    pixel_spacing_kind: str | None = None
    magnification_factor: float | None = None
    window: tuple[float, float] | None = None
    bits_stored: int = 8
    metadata: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    raw: np.ndarray | None = None
    raw_range: tuple[float, float] = (0.0, 1.0)
    inverted: bool = False
    width: int = field(init=False)
    height: int = field(init=False)

    def __post_init__(self) -> None:
        pixels = np.asarray(self.pixels)
        if pixels.ndim != 2:
            raise ValueError(f"XrayImage.pixels must be 2-D (H, W), got shape {pixels.shape}")
        self.pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        self.height, self.width = (int(n) for n in self.pixels.shape)
        if self.path is not None:
            self.path = Path(self.path)

    @property
    def patient_spacing(self) -> tuple[float, float] | None:
        """(row, column) mm at the patient: PixelSpacing as stored, ImagerPixelSpacing divided by
        the magnification factor; None when unknown (ImagerPixelSpacing without a factor is
        at the detector only)."""
        if self.pixel_spacing is None:
            return None
        if self.pixel_spacing_kind == "ImagerPixelSpacing":
            if self.magnification_factor is None:
                return None
            return (self.pixel_spacing[0] / self.magnification_factor,
                    self.pixel_spacing[1] / self.magnification_factor)
        return self.pixel_spacing

    def windowed(self, center: float, width: float) -> np.ndarray:
        """Re-window the original data for display.

        Args:
            center: Window center in fractions of `raw_range` (0.5 = middle of the data).
            width: Window width in the same units (1.0 = the whole data range).

        Returns:
            float32 HxW in [0, 1], inverted like `pixels` for MONOCHROME1.
        """
        if self.raw is None:
            return to_unit_range(self.pixels, center, width)
        low, high = self.raw_range
        span = high - low if high > low else 1.0
        out = to_unit_range(self.raw, low + center * span, width * span)
        if self.inverted:
            np.subtract(1.0, out, out=out)
        return out

    def __repr__(self) -> str:
        # Never prints metadata values: identifiers must not leak through logs.
        name = self.path.name if self.path is not None else "<memory>"
        spacing = (
            f", spacing={self.pixel_spacing[0]:.3g}x{self.pixel_spacing[1]:.3g} mm"
            if self.pixel_spacing
            else ""
        )
        return (
            f"XrayImage({name!r}, {self.source_kind}, {self.width}x{self.height}, "
            f"{self.bits_stored}-bit{spacing})"
        )

    __str__ = __repr__
