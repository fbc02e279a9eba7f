"""Image inputs (PNG, JPEG, TIFF with any number of frames, BMP) as PDF pages.

Sizes are checked from the header before any pixel is decoded, so a file that declares
100000 x 100000 pixels is refused by the pixel limit, not by the kernel's out-of-memory killer.
Pages keep the image's stated resolution (img2pdf embeds JPEG and PNG data without
re-encoding); an image that states none is placed at `default_dpi`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pdfjobs.errors import ImageInvalid, ImageTooLarge, PdfTooManyPages


@dataclass(frozen=True)
class ImageInfo:
    format: str
    frames: int
    width: int  # of the largest frame
    height: int
    dpi: tuple[float, float] | None  # as the file states it, if it does


def inspect_image(path: str | os.PathLike[str], max_pixels: int, max_frames: int) -> ImageInfo:
    """Format, frame count, size and stated resolution, from headers only; refuses what is too big."""
    from PIL import Image, UnidentifiedImageError

    # Our own limit is checked below, per frame; Pillow's bomb check would only add a second number.
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            if frames > max_frames:
                raise PdfTooManyPages(f"The image has {frames} frames; the limit is {max_frames} pages.")
            width = height = 0
            for index in range(frames):
                image.seek(index)
                if image.width * image.height > max_pixels:
                    raise ImageTooLarge(
                        f"Frame {index + 1} declares {image.width} x {image.height} pixels; "
                        f"the limit is {max_pixels} pixels per page.",
                        details={"width": image.width, "height": image.height, "limit": max_pixels},
                    )
                width, height = max(width, image.width), max(height, image.height)
            stated = image.info.get("dpi")
            dpi = (float(stated[0]), float(stated[1])) if stated and min(stated) > 1 else None
            return ImageInfo(format=str(image.format), frames=frames, width=width, height=height, dpi=dpi)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageInvalid(f"The image could not be read: {error}.") from error


def image_to_pdf(
    path: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    default_dpi: int,
    max_pixels: int,
    max_frames: int,
) -> int:
    """Writes the image as a PDF (one page per frame) to `destination`; returns the page count."""
    import img2pdf

    info = inspect_image(path, max_pixels, max_frames)
    layout = img2pdf.default_layout_fun if info.dpi else img2pdf.get_fixed_dpi_layout_fun((default_dpi, default_dpi))
    try:
        data = img2pdf.convert(str(path), layout_fun=layout, rotation=img2pdf.Rotation.ifvalid)
    except (img2pdf.ImageOpenError, img2pdf.AlphaChannelError, ValueError, OSError) as error:
        data = _reencoded(path, info, default_dpi, error)
    Path(destination).write_bytes(data)
    return info.frames


def _reencoded(path: str | os.PathLike[str], info: ImageInfo, default_dpi: int, cause: Exception) -> bytes:
    """What img2pdf cannot embed as is (16-bit samples, some TIFF flavours): re-encode at 8 bits per sample."""
    import io

    import img2pdf
    from PIL import Image, ImageSequence

    pages = []
    try:
        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                if frame.mode.startswith("I"):
                    # 16-bit samples: scale to 8 bits (a plain convert would clip everything to white).
                    flat = frame.convert("I").point(lambda value: value / 256).convert("L")
                else:
                    flat = frame.convert("RGB")
                buffer = io.BytesIO()
                flat.save(buffer, format="PNG", dpi=info.dpi or (default_dpi, default_dpi))
                pages.append(buffer.getvalue())
        return bytes(img2pdf.convert(pages))
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageInvalid(f"The image could not be converted: {cause}.") from error
