"""Skew of a scanned page, by projection profiles: text lines are straightest where the rows of
ink are most uneven (dark lines, white gaps), so the angle that maximises the variance of the
row sums is the page's skew. Pillow does the work (rotate, then a box resize to one column
gives the row means), so no numpy is needed in the Lambda layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

# Scans are rarely skewed more than this; a larger search costs time and finds false peaks.
MAX_SKEW_DEGREES = 5.0
# Below this the page is left as it is: a rotation would only blur it.
MIN_CORRECTION_DEGREES = 0.1
# The profile is measured on a copy this wide: plenty for a tenth of a degree.
_PROFILE_WIDTH = 1200


def estimate_skew(image: Image) -> float:
    """Degrees the page content is turned counter-clockwise (as seen on screen); 0.0 if straight."""
    from PIL import Image as PILImage

    gray = image.convert("L")
    if gray.width > _PROFILE_WIDTH:
        gray = gray.resize((_PROFILE_WIDTH, max(1, round(gray.height * _PROFILE_WIDTH / gray.width))))
    # Ink becomes 255, paper 0, so that rotating in black corners adds no ink.
    ink = gray.point(lambda value: 255 if value < 128 else 0)

    def score(angle: float) -> float:
        turned = ink.rotate(angle, resample=PILImage.Resampling.NEAREST, fillcolor=0)
        rows = turned.resize((1, turned.height), resample=PILImage.Resampling.BOX)
        values = rows.tobytes()  # one byte per row (mode L)
        mean = sum(values) / len(values)
        return sum((value - mean) ** 2 for value in values)

    def best(angles: Iterable[float]) -> float:
        return max(angles, key=score)

    coarse = best(step * 0.5 for step in range(int(-MAX_SKEW_DEGREES * 2), int(MAX_SKEW_DEGREES * 2) + 1))
    fine = best(coarse + step * 0.1 for step in range(-4, 5))
    # rotate(fine) straightens the page, so the page itself is turned by -fine.
    skew = -round(fine, 2)
    return skew if abs(skew) >= MIN_CORRECTION_DEGREES else 0.0
