"""Finding a model's files: a local folder, the Hugging Face cache, or a download.

Every model node resolves its ``model`` argument here before loading, so that a
model that is not available fails once, quickly and clearly (which model, where it
was looked for, the command that fetches it) instead of deep inside a hub call or
after minutes of retries. A cached model is always loaded from its snapshot folder,
so a warm cache needs no network at all.
"""

from __future__ import annotations

import logging
import os
import socket
import urllib.parse
from pathlib import Path
from typing import Any

from remotemedia.core.errors import RemoteMediaError
from remotemedia.nodes.ml._extra import require

__all__ = ["ModelNotFoundError", "resolve_model", "hub_cache_dir", "is_offline"]

logger = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}

# Files a transformers model needs; weights are chosen per repository (safetensors
# when present) so that a download never fetches a second copy in another format.
_SUPPORT_FILES = ["*.json", "*.txt", "*.model", "*.tiktoken", "*.py", "*.jinja"]


class ModelNotFoundError(RemoteMediaError, FileNotFoundError):
    """A model is neither a local folder nor in the cache, and cannot be fetched.

    Attributes:
        model: The model id or path that was asked for.
    """

    def __init__(self, model: str, message: str) -> None:
        super().__init__(message)
        self.model = model


def is_offline() -> bool:
    """Whether downloads are switched off (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``).

    Read at each call, so setting the variable in a running notebook takes effect.
    """
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache: ``HF_HUB_CACHE``, else ``$HF_HOME/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def _looks_like_path(model: str) -> bool:
    return (
        model.startswith(("/", "./", "../", "~", "\\"))
        or os.path.isabs(model)
        or model.count("/") > 1
    )


def fetch_command(model: str) -> str:
    """The shell command that puts ``model`` into the cache."""
    return f"hf download {model}"


def resolve_model(
    model: str, *, what: str = "model", allow_patterns: list[str] | None = None
) -> str:
    """The local folder holding ``model``, downloading it first when allowed.

    Args:
        model: A local folder or a Hugging Face model id (``"openai/whisper-tiny"``).
        what: What the model is for, used in messages ("speech recognition model").
        allow_patterns: Files to download (default: configs, tokenizers and one
            weights format).

    Returns:
        The path of a folder with the model's files.

    Raises:
        ModelNotFoundError: If the folder does not exist, or the model is not cached
            and downloads are off or fail.
        ValueError: If ``model`` is not a non-empty string.
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"{what}: model must be a model id or a folder, got {model!r}")
    local = Path(model).expanduser()
    if local.is_dir():
        return str(local)
    if _looks_like_path(model):
        raise ModelNotFoundError(
            model, f"{what} {model!r}: no such folder ({local.resolve()})"
        )
    cache = hub_cache_dir()
    cached = cached_snapshot(model, cache)
    if cached is not None:
        return cached
    if is_offline():
        raise ModelNotFoundError(
            model,
            f"{what} {model!r} is not available offline: it is not a local folder "
            f"and not in the Hugging Face cache {cache} (HF_HOME/HF_HUB_CACHE). "
            f"Fetch it on a machine with network: `{fetch_command(model)}` "
            "(then copy the cache, or point HF_HOME at it), or pass a local folder.",
        )
    return _download(model, cache, what, allow_patterns)


def cached_snapshot(model: str, cache: Path | None = None) -> str | None:
    """The snapshot folder of ``model`` in the hub cache, or None (no network)."""
    hub = require("huggingface_hub")
    try:
        return str(
            hub.snapshot_download(
                model, cache_dir=str(cache or hub_cache_dir()), local_files_only=True
            )
        )
    except Exception:  # noqa: BLE001 - any failure here means "not cached"
        return None


def _download(
    model: str, cache: Path, what: str, allow_patterns: list[str] | None
) -> str:
    hub = require("huggingface_hub")
    from remotemedia.notebook.progress import loading

    unreachable = _unreachable(hub.constants.ENDPOINT)
    if unreachable:
        raise ModelNotFoundError(
            model,
            f"{what} {model!r} is not in the Hugging Face cache {cache} "
            f"(HF_HOME/HF_HUB_CACHE) and the hub cannot be reached ({unreachable}). "
            f"Fetch it where there is network: `{fetch_command(model)}`, or pass "
            "a local folder; set HF_HUB_OFFLINE=1 to skip this check.",
        )
    try:
        with loading(f"downloading {model}"):
            patterns = allow_patterns or _SUPPORT_FILES + _weight_patterns(hub, model)
            path = hub.snapshot_download(
                model, cache_dir=str(cache), allow_patterns=patterns, etag_timeout=10
            )
    except Exception as exc:  # noqa: BLE001 - one clear error, not a hub traceback
        raise ModelNotFoundError(
            model,
            f"{what} {model!r} could not be downloaded into {cache} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
            f"Check the id and the network, or fetch it with `{fetch_command(model)}`.",
        ) from None
    logger.info("downloaded %s to %s", model, path)
    return str(path)


def _unreachable(endpoint: str, timeout_s: float = 3.0) -> str:
    """Why the hub at ``endpoint`` cannot be reached ("" when it can).

    One TCP connection with a short timeout, so that a machine without network
    fails in seconds instead of after the hub client's retries.
    """
    url = urllib.parse.urlsplit(endpoint)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
    return ""


def _weight_patterns(hub: Any, model: str) -> list[str]:
    files = hub.HfApi().list_repo_files(model)
    if any(f.endswith(".safetensors") for f in files):
        return ["*.safetensors"]
    return ["*.bin", "*.pt", "*.pth"]
