from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recommender.images import ImageDecodeError, load_image, upright_size

EXIF_ORIENTATION = 0x0112
ROTATE_90_CLOCKWISE = 6


def _encode(image: Image.Image, image_format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    checksum = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", checksum)


def _png_with_header_size(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height RGB pixels, followed by almost no data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _noise(size: tuple[int, int]) -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def test_rgb_jpeg_loads_from_bytes_str_and_path(tmp_path: Path) -> None:
    data = _encode(_noise((32, 24)), "JPEG")
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)

    for source in (data, str(path), path):
        image = load_image(source)
        assert image.mode == "RGB"
        assert image.size == (32, 24)


def test_16_bit_greyscale_png_is_rescaled_not_clipped() -> None:
    values = np.array([[0, 128 * 257, 65535]], dtype=np.uint16)
    data = _encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")

    image = load_image(data)

    assert image.mode == "RGB"
    assert np.asarray(image)[0].tolist() == [[0, 0, 0], [128, 128, 128], [255, 255, 255]]


def test_cmyk_jpeg_is_converted_to_rgb() -> None:
    red_in_cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))

    image = load_image(_encode(red_in_cmyk, "JPEG", quality=95))

    red, green, blue = np.asarray(image)[8, 8]
    assert image.mode == "RGB"
    assert red > 200 and green < 60 and blue < 60


def test_palette_png_transparency_is_composited_on_white() -> None:
    palette_image = Image.new("P", (2, 1))
    palette_image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 - 2) * 3)
    palette_image.putdata([0, 1])  # index 0 (black) is the transparent one

    image = load_image(_encode(palette_image, "PNG", transparency=0))

    assert np.asarray(image)[0].tolist() == [[255, 255, 255], [255, 0, 0]]


@pytest.mark.parametrize(
    ("mode", "transparent", "opaque"),
    [("RGBA", (0, 0, 255, 0), (0, 0, 255, 255)), ("LA", (0, 0), (0, 255))],
)
def test_alpha_channel_is_composited_on_white(
    mode: str, transparent: tuple[int, ...], opaque: tuple[int, ...]
) -> None:
    source = Image.new(mode, (2, 1))
    source.putpixel((0, 0), transparent)
    source.putpixel((1, 0), opaque)

    pixels = np.asarray(load_image(_encode(source, "PNG")))[0].tolist()

    assert pixels[0] == [255, 255, 255]
    assert pixels[1] == ([0, 0, 255] if mode == "RGBA" else [0, 0, 0])


def test_greyscale_becomes_three_equal_channels() -> None:
    image = load_image(_encode(Image.new("L", (4, 4), 77), "PNG"))

    assert image.mode == "RGB"
    assert np.asarray(image)[0, 0].tolist() == [77, 77, 77]


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CLOCKWISE
    data = _encode(_noise((40, 20)), "JPEG", exif=exif.tobytes())

    image = load_image(data)

    assert image.size == (20, 40)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_upright_size_from_the_header_is_the_decoded_images(orientation: int) -> None:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    data = _encode(_noise((40, 20)), "JPEG", exif=exif.tobytes())

    assert upright_size(data) == load_image(data).size
    with pytest.raises(ImageDecodeError, match="not a recognised image format"):
        upright_size(b"not an image at all")


def test_truncated_jpeg_is_rejected() -> None:
    data = _encode(_noise((64, 64)), "JPEG")

    with pytest.raises(ImageDecodeError, match="cannot decode image"):
        load_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data",
    [b"this is plain text, not an image", bytes(range(256)) * 4, b"\x89PNG\r\n\x1a\n" + b"x" * 40],
)
def test_non_images_are_rejected(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        load_image(data)


def test_image_formats_other_than_photo_formats_are_refused() -> None:
    data = _encode(Image.new("RGB", (4, 4)), "PPM")

    with pytest.raises(ImageDecodeError, match="not a recognised image format"):
        load_image(data)


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_common_photo_formats_load(image_format: str) -> None:
    image = load_image(_encode(_noise((12, 10)), image_format))

    assert (image.mode, image.size) == ("RGB", (12, 10))


def test_empty_bytes_and_empty_file_are_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.touch()

    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(empty)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "absent.jpg")


def test_pixel_limit_is_checked_before_decoding_pixels() -> None:
    # The header says 100x100 but the pixel data is missing: only a header check
    # (not a decode) can report "too large" here.
    data = _png_with_header_size(100, 100)

    with pytest.raises(ImageDecodeError, match="too large.*100x100"):
        load_image(data, max_pixels=5_000)


def test_real_image_over_the_pixel_limit_is_rejected() -> None:
    with pytest.raises(ImageDecodeError, match="too large"):
        load_image(_encode(_noise((100, 60)), "PNG"), max_pixels=5_000)


@pytest.mark.parametrize(("width", "height"), [(7_000, 7_000), (100_000, 100_000)])
def test_decompression_bomb_header_is_rejected(width: int, height: int) -> None:
    # 49 Mpx is over our default limit but under Pillow's own; 10 Gpx is over both.
    with pytest.raises(ImageDecodeError, match="too large"):
        load_image(_png_with_header_size(width, height))


def test_wrong_source_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        load_image(12345)  # type: ignore[arg-type]
