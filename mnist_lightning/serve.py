"""`python -m mnist_lightning.serve ckpt_path=...`: a page to draw a digit on, and an HTTP API."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from mnist_lightning import resolvers as _resolvers  # noqa: F401  (registers the schemas and resolvers)
from mnist_lightning.cli import run_app
from mnist_lightning.errors import ConfigError

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("mnist_lightning.serve")  # not "__main__" under `python -m`
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host`: localhost, 127.x.x.x or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may well be reachable from elsewhere
        return False


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port (port 0: a free one); one that cannot is a one-line ConfigError."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait for TIME_WAIT
        sock.bind(address)
        sock.listen(2048)  # uvicorn's own backlog
    except OSError as err:
        raise ConfigError(
            f"host={host} port={port}: cannot listen there ({err.strerror or err}); choose another port "
            "(port=0 takes any free one) or a host address of this machine"
        ) from None
    return sock


def _check(cfg: DictConfig) -> None:
    """Settings that cannot work are one line each, before the checkpoint is loaded."""
    if not 0 <= cfg.port <= 65535:
        raise ConfigError(f"port={cfg.port}: a port is 0-65535 (0: any free one)")
    for key in ("max_upload_mb", "max_pixels", "max_concurrent", "max_connections"):
        if cfg[key] <= 0:
            raise ConfigError(f"{key}={cfg[key]}: must be above 0")


def make_server(cfg: DictConfig) -> tuple[uvicorn.Server, socket.socket]:
    """The server of `cfg.ckpt_path` and its listening socket; `server.run(sockets=[sock])` serves."""
    _check(cfg)
    try:  # the optional extra: imported when used, so that the entry point starts fast
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as err:
        raise ConfigError(
            f"serve needs the {err.name} package; pip install 'mnist-lightning[serve]'"
        ) from None

    from mnist_lightning.inference import Predictor
    from mnist_lightning.web.app import Limits, make_app

    sock = listen(cfg.host, cfg.port)  # first: a port in use fails before the model takes seconds to load
    ckpt_path = Path(cfg.ckpt_path).expanduser().resolve()
    try:
        predictor = Predictor.load(ckpt_path)  # the only file the server reads: no request names one
    except BaseException:
        sock.close()
        raise
    app = make_app(predictor, ckpt_path, Limits(cfg.max_upload_mb, cfg.max_pixels, cfg.max_concurrent))
    config = uvicorn.Config(
        app,
        log_config=None,  # our log (Hydra's): uvicorn's own setup would replace its handlers
        log_level="warning",  # serve() says where it listens; uvicorn's line would repeat it
        access_log=cfg.access_log,
        limit_concurrency=cfg.max_connections,
        timeout_graceful_shutdown=5,
    )
    if cfg.access_log:  # log_level set uvicorn's access logger to warning too: its lines are info
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    return uvicorn.Server(config), sock


def address(sock: socket.socket) -> str:
    """The URL a browser opens for `sock`, e.g. http://127.0.0.1:8000/."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(cfg: DictConfig) -> None:
    """Load the checkpoint, listen, print the address and answer requests until Ctrl-C or SIGTERM."""
    server, sock = make_server(cfg)
    print(f"Serving {Path(cfg.ckpt_path).name} at {address(sock)} (Ctrl-C stops it)", flush=True)
    if not is_loopback(cfg.host):
        log.warning(
            "host=%s: listening beyond this machine; anyone who can reach port %d can use the model "
            "(there is no password); host=127.0.0.1 keeps it to this machine",
            cfg.host,
            sock.getsockname()[1],
        )
    stopped: list[int] = []
    # uvicorn stops gracefully on Ctrl-C or SIGTERM, then raises the signal again for the handler it found:
    # this one notes it, where Python's own would print a KeyboardInterrupt traceback or kill the process.
    previous = {signum: signal.signal(signum, lambda n, _: stopped.append(n)) for signum in STOP_SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stopped:
        log.info("Stopped by %s", signal.Signals(stopped[0]).name)


def main() -> None:
    """Check the command line's overrides, then run `serve` as a Hydra app.

    No warm start (mnist_lightning.warm): a server runs for long, a few seconds of start-up do not count.
    """
    run_app("serve", serve)


if __name__ == "__main__":
    main()
