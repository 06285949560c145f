"""The standalone WebRTC app (aiohttp): a demo page and an ``/offer`` endpoint.

``remotemedia serve --webrtc`` runs it next to the gRPC server; it also runs on its own
(``await start_site(...)``) for apps outside notebooks. Routes:

- ``GET /``: a small page that loads the bundled front end ``/static/standalone.js``
  (built from ``extension/src/standalone.ts``); it streams the microphone through the
  pipeline on the server and plays the result.
- ``GET /static/...``: files of ``remotemedia/static/``.
- ``POST /offer``: JSON ``{"sdp", "type"}`` -> the answer as JSON. Each offer gets its
  own :class:`~remotemedia.webrtc.Peer` and a fresh pipeline.

When the server has a token, the page and ``/offer`` need it, as ``Authorization:
Bearer <token>`` or ``?token=<token>`` (for the page); otherwise the answer is 401.
``/static/`` (public front-end code, loaded by the page's ``<script>`` tag without
the token) is open. The check itself is
the server's (passed in as ``authorize``), not a second implementation.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from remotemedia.core.pipeline import Pipeline
from remotemedia.webrtc.errors import PeerError
from remotemedia.webrtc.peer import Peer

logger = logging.getLogger(__name__)

__all__ = ["create_app", "start_site", "pipeline_factory", "WebRTCSite"]

STATIC = Path(__file__).resolve().parent.parent / "static"
_MAX_OFFER_BYTES = 256 * 1024

PipelineFactory = Callable[[], "Pipeline | None"]


def _web() -> Any:
    try:
        from aiohttp import web
    except ImportError as exc:  # pragma: no cover - extra missing
        raise ImportError(
            f"the WebRTC app needs aiohttp ({exc}): pip install 'remotemedia[webrtc]'"
        ) from exc
    return web


def pipeline_factory(manifest: str | Path | None = None) -> PipelineFactory:
    """A factory of fresh pipelines from a manifest file (None: pass-through).

    The manifest is read and checked once, here, so a bad file fails at start.

    Raises:
        ManifestError: If the manifest is invalid.
        OSError: If the file cannot be read.
    """
    if manifest is None:
        from remotemedia.nodes import Passthrough

        return lambda: Pipeline([Passthrough()], name="passthrough")
    data = json.loads(Path(manifest).read_text())
    Pipeline.from_manifest(data)
    return lambda: Pipeline.from_manifest(data)


def create_app(
    pipeline: PipelineFactory | None = None,
    *,
    authorize: Callable[[str], bool] | None = None,
    sample_rate: int = 48000,
    static_dir: Path = STATIC,
) -> Any:
    """Builds the aiohttp application.

    Args:
        pipeline: Makes the pipeline of each connection (default: pass-through).
        authorize: Checks an ``Authorization`` header value (``"Bearer <token>"``);
            None: no authentication.
        sample_rate: Rate the pipeline receives audio at (the browser sends 48 kHz;
            add a ``Resample`` node for models that want 16 kHz).
        static_dir: Folder served under ``/static/``.

    Returns:
        The ``aiohttp.web.Application``; ``app["peers"]`` holds the live peers.
    """
    web = _web()
    make_pipeline = pipeline or pipeline_factory(None)

    @web.middleware
    async def auth(request: Any, handler: Callable[[Any], Any]) -> Any:
        # The bundled front end is public code: the page's <script> request
        # carries no token, so /static/ is open; the page and /offer are not.
        if authorize is not None and not request.path.startswith("/static/"):
            header = request.headers.get("Authorization", "")
            token = request.query.get("token")
            if not header and token is not None:
                header = f"Bearer {token}"
            if not authorize(header):
                return web.Response(
                    status=401,
                    text="missing or invalid token: send 'Authorization: Bearer "
                    "<token>' or ?token=<token> (printed by 'remotemedia serve')",
                )
        return await handler(request)

    app = web.Application(middlewares=[auth], client_max_size=_MAX_OFFER_BYTES)
    app["peers"] = set()

    async def index(request: Any) -> Any:
        return web.Response(text=_page(static_dir), content_type="text/html")

    async def offer(request: Any) -> Any:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="the body must be JSON {sdp, type}")
        peers: set[Peer] = app["peers"]
        for old in [p for p in peers if p.state in ("closed", "failed")]:
            peers.discard(old)
        peer = Peer(pipeline=make_pipeline(), sample_rate=sample_rate)
        try:
            answer = await peer.accept(body)
        except (ValueError, PeerError) as exc:
            await peer.close()
            return web.Response(status=400, text=f"bad offer: {exc}")
        peers.add(peer)
        logger.info("webrtc peer accepted (%d live)", len(peers))
        return web.json_response(answer)

    async def close_peers(app: Any) -> None:
        for peer in list(app["peers"]):
            await peer.close()
        app["peers"].clear()

    app.router.add_get("/", index)
    app.router.add_post("/offer", offer)
    if static_dir.is_dir():
        app.router.add_static("/static/", static_dir)
    app.on_shutdown.append(close_peers)
    return app


def _page(static_dir: Path) -> str:
    if (static_dir / "standalone.js").is_file():
        body = '<div id="rm-app"></div>\n<script type="module" src="/static/standalone.js"></script>'
    else:
        hint = html.escape(
            f"The front end is not built ({static_dir / 'standalone.js'} is missing): "
            "run `make` (or `cd extension && npm install && npm run build`)."
        )
        body = f'<div id="rm-app"><p class="rm-missing">{hint}</p></div>'
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        "<title>remotemedia live</title></head>\n"
        f"<body>\n<h1>remotemedia live</h1>\n{body}\n</body></html>\n"
    )


class WebRTCSite:
    """A started app: ``port`` is the bound port; ``await stop()`` shuts it down."""

    def __init__(self, runner: Any, host: str, port: int) -> None:
        self.runner = runner
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://{self.host}:{self.port}/"

    async def stop(self) -> None:
        """Closes the peers and the HTTP server."""
        await self.runner.cleanup()


async def start_site(app: Any, host: str = "127.0.0.1", port: int = 0) -> WebRTCSite:
    """Serves ``app`` on ``host:port`` (0: a free port) on the running loop.

    On a loopback host, ICE offers only loopback candidates (the browser is local).
    """
    web = _web()
    if host in ("127.0.0.1", "localhost"):
        from remotemedia.webrtc.ice import use_loopback_candidates

        use_loopback_candidates()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    server = getattr(site, "_server", None)
    if server is not None and server.sockets:
        bound = server.sockets[0].getsockname()[1]
    return WebRTCSite(runner, host, int(bound))
