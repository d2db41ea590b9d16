"""ThresholdChoice: the threshold a model's map is shown at, and the reader's remembered ones.

The document (model A) and the comparison (model B) choose their thresholds the same way, so
the rule is written once, here: a threshold is clamped to [0, 1]; the one the reader sets is
remembered per weights file name and finding in `threshold_memory` (saved with the settings);
a study or finding shown opens with the remembered one, else the weights' own for the finding.
"""

from __future__ import annotations

import math


class ThresholdChoice:
    """A mixin: `threshold`, `set_threshold`, `reset_threshold` and the default rule.

    The class using it provides `threshold_memory` ({model name: {finding: threshold}}),
    `_threshold` (the current value), `events.threshold_changed`, the properties `finding`
    (the finding shown) and `threshold_model` (the weights file name memory is kept under),
    and `weights_threshold(finding, study)` (the weights' own value).
    """

    @property
    def threshold(self) -> float:
        return self._threshold

    def set_threshold(self, value: float, remember: bool = True) -> None:
        """Set the FPM threshold (clamped to [0, 1]).

        Args:
            value: The threshold.
            remember: Keep it as the reader's threshold for this model and finding.
        """
        value = float(value)
        if not math.isfinite(value):
            return
        value = min(1.0, max(0.0, value))
        finding, name = self.finding, self.threshold_model
        if remember and finding is not None and name:
            self.threshold_memory.setdefault(name, {})[finding] = value
        if value == self._threshold:
            return
        self._threshold = value
        self.events.threshold_changed.emit(value)

    def reset_threshold(self) -> None:
        """Forget the reader's threshold for this finding: back to the weights' one."""
        finding = self.finding
        self.threshold_memory.get(self.threshold_model, {}).pop(finding, None)
        self.set_threshold(self._default_threshold(finding), remember=False)

    def _default_threshold(self, finding: str | None, study=None) -> float:
        remembered = self.threshold_memory.get(self.threshold_model, {}).get(finding) if finding else None
        return float(remembered) if remembered is not None else self.weights_threshold(finding, study)
