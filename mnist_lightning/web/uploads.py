"""Reading what a client uploads, within limits: every way it can go wrong is an `UploadError` (a 4xx)."""

from __future__ import annotations

import io

import anyio
from PIL import Image, UnidentifiedImageError
from starlette.requests import Request

# The formats a photo or a drawing comes in. Pillow reads many more, some through rarely used decoders:
# a server keeps its attack surface to these.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
ACCEPTED = "image/png, image/jpeg, image/webp, image/gif, image/bmp, image/tiff or application/octet-stream"
HOW = (
    "send the image file itself as the body, e.g. curl --data-binary @digit.png -H 'Content-Type: image/png'"
)
BODY_SECONDS = 30  # a client that takes longer to send its body holds a connection for nothing
MB = 1_000_000


class UploadError(Exception):
    """A request the server refuses: the HTTP status and one line naming the problem and the fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_type(request: Request) -> None:
    """Refuse a body that does not say it is an image (a form, JSON, text) with 415."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (kind.startswith("image/") or kind == "application/octet-stream"):
        shown = kind or "none"
        raise UploadError(415, f"Content-Type {shown} is not an image; {HOW} (accepted: {ACCEPTED})")


async def read_body(request: Request, max_mb: float) -> bytes:
    """The request body, read no further than `max_mb` (413 beyond it) and never empty (400)."""
    limit = int(max_mb * MB)
    too_big = UploadError(413, f"the body is over the server's limit of {max_mb:g} MB; send a smaller image")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big  # said so up front: refused before a byte is read
    chunks, size = [], 0
    try:
        with anyio.fail_after(BODY_SECONDS):
            async for chunk in request.stream():  # chunked bodies say no size: count as they come
                size += len(chunk)
                if size > limit:
                    raise too_big
                chunks.append(chunk)
    except TimeoutError:
        raise UploadError(408, f"the body took over {BODY_SECONDS} s to arrive; send it again") from None
    if size == 0:
        raise UploadError(400, f"the body is empty; {HOW}")
    return b"".join(chunks)


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """The image in `data`, opened but not decoded: refused unless it is one and within `max_pixels`."""
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as err:  # Pillow's own, far larger, limit
        raise UploadError(413, f"{err}; send a smaller image") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UploadError(400, f"the body is not an image in a known format ({', '.join(FORMATS)})") from None
    width, height = image.size
    if width * height > max_pixels:  # only the header has been read: the pixels never take memory
        image.close()
        raise UploadError(
            413,
            f"the image claims {width} x {height} pixels, over the server's limit of {max_pixels:,}; "
            "send a smaller image",
        )
    return image
