"""The real Qwen3-Embedding model in-process, through fastembed (ONNX on the CPU): the embedder when
no server is configured. The model is downloaded on first use; without network access that fails
at once with a message that says how to use a server instead."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from embedlab.backends import (
    BadResponse,
    InputRejected,
    ModelUnavailable,
    ProbeResult,
    ProgressCallback,
    batches,
    check_texts,
    clean_text,
    normalize_rows,
)
from embedlab.messages import N_, Message

_USE_A_SERVER = Message(N_(
    "Downloading the model needs internet access to the model hub (2.4 GB). Without it, point the "
    "app at an embedding server: set EMBEDDING_BASE_URL (or the sidebar's base URL) to e.g. "
    "http://localhost:30000/v1 after `sglang serve --model-path Qwen/Qwen3-Embedding-0.6B "
    "--is-embedding --port 30000`, or set EMBEDDING_LOCAL_PATH to a downloaded model directory."
))


def _has_files(path: Path) -> bool:
    return path.is_dir() and any(p.is_file() for p in path.rglob("*"))


def _hub_unreachable(timeout_s: float = 3.0) -> Message | None:
    """Why the model hub surely cannot be reached (its name does not resolve), or None.

    None also when unsure (a proxy is configured, or the lookup is slow): the download then
    tries for itself. HF_ENDPOINT (a mirror) is honoured.
    """
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return Message(N_("HF_HUB_OFFLINE is set"))
    host = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    pool = ThreadPoolExecutor(max_workers=1)
    lookup = pool.submit(socket.getaddrinfo, host, 443)
    pool.shutdown(wait=False)  # a slow resolver must not hold the caller
    try:
        lookup.result(timeout=timeout_s)
    except OSError as exc:
        return Message(N_("no network ({host} cannot be resolved: {detail})"), {"host": host, "detail": str(exc)})
    except TimeoutError:
        return None
    return None


class LocalEmbedder:
    """The real Qwen3-Embedding model in-process, through fastembed (ONNX, CPU).

    The model (2.4 GB) is downloaded into `cache_dir` on first use; with no network that fails
    with a ModelUnavailable that says how to use a server instead.
    """

    MODEL_NAME = "Qwen/Qwen3-Embedding-0.6B"
    FULL_DIM = 1024

    def __init__(
        self,
        cache_dir: str | Path,
        local_path: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 8,
        model_name: str = MODEL_NAME,
    ) -> None:
        if dimensions is not None and not 1 <= dimensions <= self.FULL_DIM:
            raise InputRejected(N_("dimensions must be between 1 and {full}, got {dimensions}"),
                                full=self.FULL_DIM, dimensions=dimensions)
        self.cache_dir = Path(cache_dir)
        self.local_path = local_path
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.model_name = model_name
        self._model = None
        self._load_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"{self.model_name}@local"

    @property
    def served_model(self) -> str:
        """The model that answers: the one loaded here."""
        return self.model_name

    @property
    def dim(self) -> int:
        return self.dimensions or self.FULL_DIM

    @property
    def matryoshka_mode(self) -> str:
        return "client" if self.dimensions else "n/a"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load (downloading on first use) the model; raises ModelUnavailable."""
        with self._load_lock:
            if self._model is not None:
                return
            if self.local_path and not Path(self.local_path).is_dir():
                raise ModelUnavailable(
                    N_("EMBEDDING_LOCAL_PATH={path} is not a directory. Point it at a "
                       "folder holding the ONNX export of Qwen3-Embedding-0.6B, or unset it."),
                    path=self.local_path,
                )
            offline = None if self.local_path or _has_files(self.cache_dir) else _hub_unreachable()
            if offline:
                # fastembed would retry for about 40 s before failing the same way.
                raise ModelUnavailable(N_("Could not download {model}: {reason}. {advice}"),
                                       model=self.model_name, reason=offline, advice=_USE_A_SERVER)
            try:
                from fastembed import TextEmbedding

                self.cache_dir.mkdir(parents=True, exist_ok=True)
                self._model = TextEmbedding(
                    self.model_name,
                    cache_dir=str(self.cache_dir),
                    specific_model_path=self.local_path,
                )
            except Exception as exc:  # noqa: BLE001 - fastembed raises many kinds
                raise ModelUnavailable(
                    N_("Could not load {model} in-process ({error}). {advice}"),
                    model=self.model_name, error=f"{type(exc).__name__}: {str(exc)[:200]}", advice=_USE_A_SERVER,
                ) from None

    def embed(self, texts: Sequence[str], progress: ProgressCallback | None = None) -> np.ndarray:
        texts = [clean_text(t) for t in texts]
        check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        out: list[np.ndarray] = []
        done = 0
        for a, b in batches(len(texts), self.batch_size):
            out.append(np.asarray(list(self._model.embed(texts[a:b], batch_size=self.batch_size))))
            done = b
            if progress:
                progress(done, len(texts))
        raw = np.vstack(out)
        if not np.all(np.isfinite(raw)):
            raise BadResponse(N_("The local model produced NaN values."))
        return normalize_rows(raw, self.dimensions)

    def probe(self) -> ProbeResult:
        start = time.perf_counter()
        vectors = self.embed(["connection test"])
        return ProbeResult(
            model_id=self.model_name,
            dim=int(vectors.shape[1]),
            latency_ms=(time.perf_counter() - start) * 1000,
            matryoshka=self.matryoshka_mode,
        )
