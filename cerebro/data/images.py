"""Encoded images (JPEG/PNG bytes) in prepared data: probe, encode and decode, with Pillow.

Prepared image columns hold the encoded bytes (``ColumnInfo.kind == "image"``); they are
decoded per batch, on the worker and in inference, by :func:`decode_batch`, and on the driver
for the bounded sample the graph is configured from.

How an image becomes an array of ``image_shape = (h, w, c)`` uint8 values:

- Channels: the image is converted with Pillow to ``L`` (c=1), ``LA`` (2), ``RGB`` (3) or
  ``RGBA`` (4) as ``c`` asks (a palette or 16-bit image is converted the same way).
- Size: an image of another size is resized to ``(h, w)`` with a bilinear filter, stretched
  (aspect ratio not kept, nothing cropped), as Keras's ``image_dataset_from_directory`` does
  by default. No scaling of values: pixels stay 0..255 (AutoKeras's ``Normalization`` block
  learns the scale from the sample).
- Spark's ``image`` struct (``spark.read.format("image")``: raw BGR(A) pixels) is re-encoded
  as PNG during preparation (:func:`struct_to_png`), so the workers only ever see one kind.
"""

from __future__ import annotations

import io
from typing import Optional, Sequence

import numpy as np

FORMATS = ("PNG", "JPEG")
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
# Fields of Spark's image struct (pyspark.ml.image.ImageSchema.imageSchema).
STRUCT_FIELDS = ("origin", "height", "width", "nChannels", "mode", "data")


class ImageDecodeError(ValueError):
    """An image column holds bytes that are not a decodable JPEG/PNG image."""


def channels_of(mode: str) -> int:
    """Number of channels an image of Pillow ``mode`` decodes to by default."""
    if mode in ("1", "L", "I", "I;16", "F"):
        return 1
    if mode == "LA":
        return 2
    if mode in ("RGBA", "PA"):
        return 4
    return 3  # RGB, P, CMYK, YCbCr, ...


def has_magic(data: bytes) -> bool:
    """Whether ``data`` starts like a PNG or JPEG file."""
    return any(bytes(data[:len(m)]) == m for m in _MAGIC)


def probe(data: bytes) -> tuple[int, int, int]:
    """Reads only the header: ``(height, width, channels)`` of a JPEG/PNG image.

    Raises:
        ImageDecodeError: ``data`` is not a JPEG or PNG image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in FORMATS:
                raise ImageDecodeError(f"a {img.format} image; expected JPEG or PNG")
            return int(img.height), int(img.width), channels_of(img.mode)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageDecodeError(f"not a JPEG/PNG image ({e})") from e


def decode(data: bytes, shape: Sequence[int]) -> np.ndarray:
    """Decodes one JPEG/PNG image to a ``shape = (h, w, c)`` uint8 array (see module doc).

    Raises:
        ImageDecodeError: ``data`` does not decode (corrupt, truncated, not JPEG/PNG).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in FORMATS:
                raise ImageDecodeError(f"a {img.format} image; expected JPEG or PNG")
            return _fit(img, shape)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageDecodeError(f"not a decodable JPEG/PNG image ({e})") from e


def _fit(img, shape: Sequence[int]) -> np.ndarray:
    """A Pillow image -> ``(h, w, c)`` uint8: channels converted, size stretched (bilinear)."""
    from PIL import Image

    h, w, c = (int(s) for s in shape)
    img = img.convert(_MODES[c]) if img.mode != _MODES[c] else img
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8).reshape(h, w, c)


def from_pixels(pixels: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``(h', w', c')`` uint8 pixels -> ``shape``, exactly as :func:`decode` would give."""
    from PIL import Image

    c = pixels.shape[-1]
    img = Image.fromarray(pixels[:, :, 0] if c == 1 else pixels, _MODES[c])
    return _fit(img, shape)


def decode_batch(values: Sequence[Optional[bytes]], shape: Sequence[int],
                 skip_bad: bool = False) -> tuple[np.ndarray, list[int]]:
    """Decodes a batch of images to ``(n, h, w, c)`` uint8.

    Args:
        values: Encoded images (``bytes``; ``None`` counts as bad).
        shape: ``(h, w, c)``.
        skip_bad: Leave undecodable rows out (and return their indices) instead of raising.

    Returns:
        The decoded images and the indices of the rows left out.

    Raises:
        ImageDecodeError: a row does not decode and ``skip_bad`` is false (names the row).
    """
    h, w, c = (int(s) for s in shape)
    out = np.empty((len(values), h, w, c), np.uint8)
    bad: list[int] = []
    n = 0
    for i, data in enumerate(values):
        try:
            if data is None:
                raise ImageDecodeError("a null image")
            out[n] = decode(data, (h, w, c))
            n += 1
        except ImageDecodeError as e:
            if not skip_bad:
                raise ImageDecodeError(f"row {i} of the batch: {e}") from e
            bad.append(i)
    return out[:n], bad


def struct_to_pixels(height: int, width: int, n_channels: int, data: bytes) -> np.ndarray:
    """Spark's image struct (row-major BGR / BGRA / gray bytes) -> ``(h, w, c)`` RGB(A) uint8."""
    a = np.frombuffer(data, np.uint8)
    if a.size != height * width * n_channels:
        raise ImageDecodeError(f"an image struct of {height}x{width}x{n_channels} holds "
                               f"{a.size} bytes")
    a = a.reshape(height, width, n_channels)
    if n_channels == 3:
        a = a[:, :, ::-1]
    elif n_channels == 4:
        a = a[:, :, [2, 1, 0, 3]]
    return np.ascontiguousarray(a)


def encode_png(pixels: np.ndarray) -> bytes:
    """``(h, w, c)`` uint8 -> PNG bytes (lossless)."""
    from PIL import Image

    c = pixels.shape[-1] if pixels.ndim == 3 else 1
    img = Image.fromarray(pixels.reshape(pixels.shape[0], pixels.shape[1], c).squeeze(-1)
                          if c == 1 else pixels, _MODES[c])
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def struct_to_png(height: int, width: int, n_channels: int, data: bytes) -> bytes:
    """Re-encodes one Spark image struct as PNG bytes."""
    return encode_png(struct_to_pixels(height, width, n_channels, data))
