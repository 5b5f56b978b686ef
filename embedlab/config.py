"""Settings from environment variables, `.streamlit/secrets.toml` and per-session overrides.

Precedence, highest first: session overrides (the sidebar) > environment variables >
secrets.toml > built-in defaults. Environment variables beat the secrets file so that an
operator can change one deployment without editing files.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_MODEL = "Qwen/Qwen3-Embedding-0.6B"
SECRETS_PATH = Path(".streamlit") / "secrets.toml"

# Setting name -> environment / secrets key.
ENV_KEYS: dict[str, str] = {
    "embedding_base_url": "EMBEDDING_BASE_URL",
    "embedding_model": "EMBEDDING_MODEL",
    "embedding_api_key": "EMBEDDING_API_KEY",
    "embedding_dimensions": "EMBEDDING_DIMENSIONS",
    "embedding_local_path": "EMBEDDING_LOCAL_PATH",
    "rerank_base_url": "RERANK_BASE_URL",
    "rerank_model": "RERANK_MODEL",
    "chroma_path": "CHROMA_PATH",
    "chroma_host": "CHROMA_HOST",
    "chroma_port": "CHROMA_PORT",
    "milvus_uri": "MILVUS_URI",
    "milvus_token": "MILVUS_TOKEN",
    "data_dir": "PLAYGROUND_DATA_DIR",
}
MILVUS_SCHEMES = ("http", "https", "tcp")  # what pymilvus accepts besides a local *.db file

# Matryoshka sizes of the Qwen3-Embedding models (official model cards): (smallest, full).
QWEN3_DIMENSIONS: dict[str, tuple[int, int]] = {"0.6b": (32, 1024), "4b": (32, 2560), "8b": (32, 4096)}
# Hub names, GGUF builds and Ollama tags: Qwen/Qwen3-Embedding-0.6B, dengcao/Qwen3-Embedding-4B:Q8_0,
# qwen3-embedding:8b.
_QWEN3_NAME = re.compile(r"qwen3-embedding[-_:]?(0\.6b|4b|8b)(?![0-9a-z.])", re.IGNORECASE)
# What a setting falls back to when its value cannot be used (read_settings).
_FALLBACKS = {
    "embedding_dimensions": "the model's full size is used",
    "chroma_port": "port 8000 is used",
    "milvus_uri": "the embedded Chroma store is used instead of Milvus",
}


def api_root(base_url: str) -> str:
    """The OpenAI API root of a server: "http://host:port" and "http://host:port/v1/" both give
    "http://host:port/v1" (users paste either)."""
    base = base_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def server_root(base_url: str) -> str:
    """The server's own root, without the "/v1" API prefix (where vLLM puts /tokenize)."""
    return api_root(base_url)[: -len("/v1")]


# Held while the process environment is read or briefly changed (milvus_store's pymilvus import).
ENV_LOCK = threading.Lock()


class SettingsError(ValueError):
    """A configuration value cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to reach its model, reranker and vector store."""

    embedding_base_url: str | None = None
    embedding_model: str = DEFAULT_MODEL
    # repr=False keeps the key out of logs and error messages.
    embedding_api_key: str | None = field(default=None, repr=False)
    embedding_dimensions: int | None = None
    embedding_local_path: str | None = None
    rerank_base_url: str | None = None
    rerank_model: str | None = None
    chroma_path: str | None = None
    chroma_host: str | None = None
    chroma_port: int = 8000
    # Set: Milvus instead of Chroma (a server URL, or a Milvus Lite *.db path).
    milvus_uri: str | None = field(default=None, repr=False)  # a URL may carry user:password
    milvus_token: str | None = field(default=None, repr=False)  # like the API key: never shown
    data_dir: str = "data"

    @property
    def backend(self) -> str:
        """`"server"` when a base URL is configured, else `"local"` (in-process model)."""
        return "server" if self.embedding_base_url else "local"

    @property
    def vector_model(self) -> str:
        """The model that makes the vectors: the configured one on a server, else the in-process
        Qwen3-Embedding-0.6B (the only model the local backend runs)."""
        return self.embedding_model if self.backend == "server" else DEFAULT_MODEL

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def chroma_dir(self) -> Path:
        return Path(self.chroma_path) if self.chroma_path else self.data_path / "chroma"

    @property
    def store_kind(self) -> str:
        """Which vector store these settings open: "milvus-lite", "milvus", "chroma-server" or "chroma"."""
        if self.milvus_uri:
            return "milvus-lite" if is_milvus_lite(self.milvus_uri) else "milvus"
        return "chroma-server" if self.chroma_host else "chroma"


def dimension_range(model: str) -> tuple[int, int | None]:
    """(smallest, largest) Matryoshka size `model` offers: Qwen3-Embedding-0.6B 32 to 1024, 4B 32 to
    2560, 8B 32 to 4096. Any other model gives (1, None): only its server knows its full size, and
    the embedder learns it from the first answer."""
    found = _QWEN3_NAME.search(model)
    return QWEN3_DIMENSIONS[found.group(1).lower()] if found else (1, None)


def is_milvus_lite(uri: str) -> bool:
    """A MILVUS_URI naming a local Milvus Lite database (a path ending in .db), not a server."""
    return urlsplit(uri).scheme.lower() not in MILVUS_SCHEMES and uri.endswith(".db")


def public_uri(uri: str) -> str:
    """`uri` without user, password or query, fit for captions and logs."""
    parts = urlsplit(uri)
    if not parts.netloc:  # a file path
        return uri
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def store_location(settings: Settings) -> str:
    """Where collections live, for captions: the store and its address, never credentials."""
    kind = settings.store_kind
    if kind == "milvus-lite":
        return f"Milvus Lite at {settings.milvus_uri}"
    if kind == "milvus":
        return f"Milvus at {public_uri(settings.milvus_uri or '')}"
    if kind == "chroma-server":
        return f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
    return f"embedded Chroma at {settings.chroma_dir}"


def read_secrets(path: Path = SECRETS_PATH) -> dict[str, Any]:
    """Top-level keys of a secrets.toml file; {} when it does not exist."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from exc


def _convert(name: str, raw: Any) -> Any:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = raw.strip()
        if raw == "":
            return None
    if name == "embedding_dimensions":
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"EMBEDDING_DIMENSIONS must be a whole number, got {raw!r}") from None
        # 0 means "the model's full size", as in the sidebar.
        if value == 0:
            return None
        if value < 1:
            raise SettingsError(f"EMBEDDING_DIMENSIONS must be positive, got {value}")
        return value
    if name == "chroma_port":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"CHROMA_PORT must be a port number, got {raw!r}") from None
    if name.endswith("base_url"):
        return str(raw).rstrip("/")
    if name == "milvus_uri":
        uri = str(raw)
        if not is_milvus_lite(uri) and urlsplit(uri).scheme.lower() not in MILVUS_SCHEMES:
            raise SettingsError(
                f"MILVUS_URI must be a Milvus server URL (http://host:19530) or a Milvus Lite file "
                f"path ending in .db (./data/milvus.db), got {public_uri(uri)!r}"
            )
        return uri
    return str(raw)


def load_settings(
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the three sources into Settings; raises SettingsError for the first unusable value.

    Args:
        env: environment variables (default: os.environ), keyed by ENV_KEYS values.
        secrets: secrets.toml contents (default: read from SECRETS_PATH), same keys.
        overrides: per-session values keyed by Settings field name; a value of None
            means "not overridden", an empty string clears the setting.
    """
    return read_settings(env, secrets, overrides, strict=True)[0]


def read_settings(
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> tuple[Settings, list[str]]:
    """Like load_settings, but an unusable value (or secrets file) is left out and reported:
    that one setting keeps its default and every other setting is still read.

    Returns:
        (settings, problems): one message per value left out, naming the variable and what is
        used instead. With strict=True the first problem is raised as SettingsError instead.
    """
    problems: list[str] = []

    def refuse(exc: SettingsError, fallback: str) -> None:
        if strict:
            raise exc
        problems.append(f"{exc}; {fallback}.")

    if env is None:
        with ENV_LOCK:  # never read while milvus_store hides MILVUS_URI from pymilvus's import
            env = dict(os.environ)
    if secrets is None:
        try:
            secrets = read_secrets()
        except SettingsError as exc:
            refuse(exc, "the file is ignored")
            secrets = {}
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for f in fields(Settings):
        key = ENV_KEYS[f.name]
        if overrides.get(f.name) is not None:
            raw = overrides[f.name]
        elif env.get(key) not in (None, ""):
            raw = env[key]
        elif secrets.get(key) not in (None, ""):
            raw = secrets[key]
        else:
            continue
        try:
            value = _convert(f.name, raw)
        except SettingsError as exc:
            refuse(exc, _FALLBACKS.get(f.name, "the default is used"))
            continue
        if value is not None or f.name in ("embedding_base_url", "embedding_dimensions"):
            values[f.name] = value
    settings = Settings(**values)
    dims = settings.embedding_dimensions
    low, high = dimension_range(settings.vector_model)
    if dims is not None and not (low <= dims <= (high or dims)):
        refuse(SettingsError(f"EMBEDDING_DIMENSIONS={dims} is outside the sizes {settings.vector_model} offers "
                             f"({low} to {high})"), _FALLBACKS["embedding_dimensions"])
        settings = Settings(**{**values, "embedding_dimensions": None})
    return settings, problems
