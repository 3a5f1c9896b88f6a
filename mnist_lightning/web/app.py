"""The Starlette app: the page, GET /health and /info, POST /predict; every error answers JSON."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from omegaconf import OmegaConf
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mnist_lightning import metric_keys as M
from mnist_lightning.inference import Predictor
from mnist_lightning.web.uploads import UploadError, check_type, open_image, read_body

# The page is the server's own three files: nothing is fetched from elsewhere, and the browser is told so.
PAGE = {"/": "index.html", "/page.js": "page.js", "/page.css": "page.css"}
MEDIA = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
}
ROUTES = "GET /, /health, /info and POST /predict"


@dataclass(frozen=True)
class Limits:
    """What one request may cost: body size, pixels, and how many images are worked on at once."""

    max_upload_mb: float
    max_pixels: int
    max_concurrent: int


def dataset_name(predictor: Predictor) -> str | None:
    """The dataset's name; a folder of the user's own classes (which replaced the dataset's) by its folder."""
    config = predictor.config
    names = OmegaConf.select(config, "data.dataset.class_names", default=None)
    if names is not None and tuple(names) != predictor.facts.class_names:  # data=folder, classes of its own
        return Path(str(OmegaConf.select(config, "data.root", default=""))).name or None
    return OmegaConf.select(config, "data.dataset.name", default=None)


def describe(predictor: Predictor, ckpt_path: Path) -> dict[str, Any]:
    """GET /info: the model, its dataset, classes and input, and its run's test accuracy when known."""
    target = str(OmegaConf.select(predictor.config, "model.net._target_", default=""))
    metrics = ckpt_path.parent.parent / M.METRICS_FILE  # <run>/checkpoints/best.ckpt -> <run>/metrics.json
    try:
        test_acc = json.loads(metrics.read_text()).get(M.TEST_ACC)
    except (OSError, ValueError, AttributeError):  # not beside a run folder, or not finished
        test_acc = None
    facts = predictor.facts
    return {
        "model": target.rsplit(".", 1)[-1] or None,
        "dataset": dataset_name(predictor),
        "classes": list(facts.class_names),
        "input_shape": list(facts.input_shape),
        "preprocess": facts.preprocess,
        "checkpoint": ckpt_path.name,  # the name only: where files lie on the server is nobody's business
        "test_acc": test_acc,
    }


def make_app(predictor: Predictor, ckpt_path: Path, limits: Limits) -> Starlette:
    """The app serving `predictor`; the checkpoint is fixed here, no request names a file."""
    page = {
        route: (resources.files(__package__) / "page" / name).read_bytes() for route, name in PAGE.items()
    }
    info = describe(predictor, ckpt_path)
    model_lock = threading.Lock()  # torch's intra-op threads use every core already: one forward at a time
    workers = anyio.CapacityLimiter(limits.max_concurrent)

    def classify(data: bytes) -> dict[str, Any]:
        """Decode, prepare and classify one image, in a worker thread (the model's lock: one batch)."""
        with open_image(data, limits.max_pixels) as image:
            try:
                pixels = predictor.read(image)
            except (OSError, ValueError, SyntaxError) as err:  # truncated, damaged, or a decoder's refusal
                raise UploadError(
                    400, f"the image could not be decoded ({err}); send the whole file"
                ) from None
        with model_lock:
            probs = predictor.probs(pixels[None])[0]
        return predictor.answer(probs)

    async def predict(request: Request) -> Response:
        check_type(request)
        data = await read_body(request, limits.max_upload_mb)
        return JSONResponse(await anyio.to_thread.run_sync(classify, data, limiter=workers))

    async def static(request: Request) -> Response:
        body, name = page[request.url.path], PAGE[request.url.path]
        return Response(body, media_type=MEDIA[Path(name).suffix], headers=HEADERS)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def about(request: Request) -> Response:
        return JSONResponse(info)

    async def refused(request: Request, err: Exception) -> Response:
        assert isinstance(err, UploadError)
        return JSONResponse({"error": str(err)}, status_code=err.status)

    async def http_error(request: Request, err: Exception) -> Response:
        assert isinstance(err, HTTPException)
        message = f"{err.detail}: {request.method} {request.url.path}; this server answers {ROUTES}"
        return JSONResponse({"error": message}, status_code=err.status_code, headers=err.headers)

    async def crashed(request: Request, err: Exception) -> Response:
        # A bug of ours: Starlette re-raises it after this answer, uvicorn logs it and serves on.
        return JSONResponse({"error": f"internal error ({type(err).__name__}); see the server's log"}, 500)

    routes = [Route(path, static) for path in PAGE]
    routes += [
        Route("/health", health),
        Route("/info", about),
        Route("/predict", predict, methods=["POST"]),
    ]
    handlers = {UploadError: refused, HTTPException: http_error, Exception: crashed}
    return Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]
