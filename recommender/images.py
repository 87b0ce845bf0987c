"""Image decoding: the one place where bytes or files become RGB pixels."""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 40_000_000
_BACKGROUND = (255, 255, 255)
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_HIGH_BIT_DEPTH_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
# Photo formats only: Pillow can open ~40 formats, some through external programs (EPS runs
# Ghostscript), which has no place on a path that decodes uploads. JPEG covers MPO too.
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = {5, 6, 7, 8}  # EXIF orientations that transpose the stored image


class ImageDecodeError(ValueError):
    """The input is not an image this library can decode safely."""


def load_image(source: bytes | str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode an image from bytes or a file path into an 8-bit RGB image, upright.

    EXIF orientation is applied and transparency is composited on white. The pixel count
    is checked from the header before any pixel data is decoded. Raises `ImageDecodeError`
    for empty, corrupt, truncated, oversized or non-image input; a missing file raises
    `FileNotFoundError` as usual.
    """
    stream = _open_stream(source)
    with stream:
        try:
            return _decode(stream, max_pixels=max_pixels)
        except ImageDecodeError:
            raise
        except Image.DecompressionBombError as error:
            raise ImageDecodeError(f"image is too large to decode safely: {error}") from error
        except Exception as error:
            # Pillow's decoders raise many types on malformed input (OSError, SyntaxError,
            # struct.error, ValueError, EOFError, ...): callers get one.
            raise ImageDecodeError(_describe(error)) from error


def upright_size(source: bytes | str | Path) -> tuple[int, int]:
    """(width, height) of the image `load_image` would return, read from the header alone:
    an EXIF orientation that turns the photo a quarter swaps the stored sides. Raises
    `ImageDecodeError` where `load_image` would fail to open the file."""
    stream = _open_stream(source)
    with stream:
        try:
            with Image.open(stream, formats=_available_formats()) as image:  # header only
                width, height = image.size
                orientation = _exif_orientation(image)
        except Exception as error:
            raise ImageDecodeError(_describe(error)) from error
    return (height, width) if orientation in _QUARTER_TURNS else (width, height)


def _open_stream(source: bytes | str | Path) -> io.BufferedIOBase:
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise ImageDecodeError("image data is empty (0 bytes)")
        return io.BytesIO(source)
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_file() and path.stat().st_size == 0:
            raise ImageDecodeError(f"image file is empty (0 bytes): {path}")
        return open(path, "rb")
    raise TypeError(f"expected bytes, str or Path, got {type(source).__name__}")


def _decode(stream: io.BufferedIOBase, *, max_pixels: int) -> Image.Image:
    with Image.open(stream, formats=_available_formats()) as image:  # reads the header only
        width, height = image.size
        if width * height > max_pixels:
            raise ImageDecodeError(
                f"image is too large: {width}x{height} = {width * height} pixels "
                f"(limit {max_pixels})"
            )
        image.load()
        return _to_rgb(_apply_exif_orientation(image))


@functools.cache
def _available_formats() -> tuple[str, ...]:
    Image.init()
    return tuple(name for name in PHOTO_FORMATS if name in Image.OPEN)


def _describe(error: Exception) -> str:
    if isinstance(error, Image.UnidentifiedImageError):
        return f"not a recognised image format (supported: {', '.join(_available_formats())})"
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"cannot decode image: {message}"


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
    # A broken EXIF block should not cost a photo whose pixels decoded fine.
    try:
        return ImageOps.exif_transpose(image)
    except Exception as error:
        logger.warning("ignoring unreadable EXIF orientation: %s", error)
        return image


def _exif_orientation(image: Image.Image) -> int:
    try:  # unreadable EXIF counts as upright, as `_apply_exif_orientation` leaves it
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:
        return 1


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> a new 8-bit RGB image."""
    if image.mode in _HIGH_BIT_DEPTH_MODES:
        image = _to_8bit_greyscale(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite_on_white(image)
    return image.convert("RGB")


def _composite_on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")  # P/L/RGB with a transparency key become real alpha
    background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_8bit_greyscale(image: Image.Image) -> Image.Image:
    # Pillow's own I/I;16 -> L conversion clips at 255 instead of rescaling.
    values = np.asarray(image, dtype=np.float64)
    high = float(values.max()) if values.size else 0.0
    if image.mode == "F" and high <= 1.0:
        scaled = values * 255.0
    elif image.mode.startswith("I;16") or 255.0 < high <= 65535.0:
        scaled = values / 257.0
    elif high <= 255.0:
        scaled = values
    else:
        low = float(values.min())
        scaled = (values - low) * (255.0 / (high - low))
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))
