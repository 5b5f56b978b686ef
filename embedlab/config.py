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

from embedlab.messages import N_, LocalizedError, Message

DEFAULT_MODEL = "Qwen/Qwen3-Embedding-0.6B"
SECRETS_PATH = Path(".streamlit") / "secrets.toml"
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 600.0

# Setting name -> environment / secrets key.
ENV_KEYS: dict[str, str] = {
    "embedding_base_url": "EMBEDDING_BASE_URL",
    "embedding_model": "EMBEDDING_MODEL",
    "embedding_api_key": "EMBEDDING_API_KEY",
    "embedding_dimensions": "EMBEDDING_DIMENSIONS",
    "embedding_local_path": "EMBEDDING_LOCAL_PATH",
    "embedding_timeout_s": "EMBEDDING_TIMEOUT",
    "rerank_base_url": "RERANK_BASE_URL",
    "rerank_model": "RERANK_MODEL",
    "chroma_path": "CHROMA_PATH",
    "chroma_host": "CHROMA_HOST",
    "chroma_port": "CHROMA_PORT",
    "milvus_uri": "MILVUS_URI",
    "milvus_token": "MILVUS_TOKEN",
    "data_dir": "PLAYGROUND_DATA_DIR",
    "connection_locked": "PLAYGROUND_LOCK_CONNECTION",
}
# What one browser session may change for itself (the sidebar's Settings); the rest comes only from
# the environment or secrets.toml. With PLAYGROUND_LOCK_CONNECTION, not even where requests go.
SESSION_FIELDS = ("embedding_base_url", "embedding_model", "embedding_api_key", "embedding_dimensions")
LOCKED_FIELDS = ("embedding_base_url", "embedding_api_key")
# Credential -> (the address it belongs to, whether that address is an OpenAI API root): a configured
# credential is sent only to its configured address; a session pointing elsewhere brings its own.
CREDENTIALS: dict[str, tuple[str, bool]] = {
    "embedding_api_key": ("embedding_base_url", True),
    "milvus_token": ("milvus_uri", False),
}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
MILVUS_SCHEMES = ("http", "https", "tcp")  # what pymilvus accepts besides a local *.db file

# Matryoshka sizes of the Qwen3-Embedding models (official model cards): (smallest, full).
QWEN3_DIMENSIONS: dict[str, tuple[int, int]] = {"0.6b": (32, 1024), "4b": (32, 2560), "8b": (32, 4096)}
# Hub names, GGUF builds and Ollama tags: Qwen/Qwen3-Embedding-0.6B, dengcao/Qwen3-Embedding-4B:Q8_0,
# qwen3-embedding:8b.
_QWEN3_NAME = re.compile(r"qwen3-embedding[-_:]?(0\.6b|4b|8b)(?![0-9a-z.])", re.IGNORECASE)
# What a setting falls back to when its value cannot be used (read_settings).
_FALLBACKS = {
    "embedding_dimensions": N_("the model's full size is used"),
    "chroma_port": N_("port 8000 is used"),
    "embedding_timeout_s": N_("30 s is used"),
    "milvus_uri": N_("the embedded Chroma store is used instead of Milvus"),
}


def api_root(base_url: str) -> str:
    """The OpenAI API root of a server: "http://host:port" and "http://host:port/v1/" both give
    "http://host:port/v1" (users paste either)."""
    base = base_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def server_root(base_url: str) -> str:
    """The server's own root, without the "/v1" API prefix (where vLLM puts /tokenize)."""
    return api_root(base_url)[: -len("/v1")]


# Held while the process environment is read or briefly changed (stores.milvus's pymilvus import).
ENV_LOCK = threading.Lock()


class SettingsError(LocalizedError, ValueError):
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
    # Seconds one embedding request may take before it counts as failed (a hung server costs this).
    embedding_timeout_s: float = DEFAULT_TIMEOUT_S
    rerank_base_url: str | None = None
    rerank_model: str | None = None
    chroma_path: str | None = None
    chroma_host: str | None = None
    chroma_port: int = 8000
    # Set: Milvus instead of Chroma (a server URL, or a Milvus Lite *.db path).
    milvus_uri: str | None = field(default=None, repr=False)  # a URL may carry user:password
    milvus_token: str | None = field(default=None, repr=False)  # like the API key: never shown
    data_dir: str = "data"
    # Set by the operator only: sessions cannot change where requests go or with which key.
    connection_locked: bool = False

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


def public_url(url: str) -> str:
    """`url` as it may be shown, logged or exported: without user name, password, query or fragment
    (where keys hide). A local path comes back as it is."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed port or bracket: keep only what cannot hold a secret
        return url.rsplit("@", 1)[-1].split("?", 1)[0].split("#", 1)[0]
    if not parts.netloc:  # a file path, or an address without "//"
        head, sep, tail = url.split("?", 1)[0].split("#", 1)[0].partition("/")
        return head.rsplit("@", 1)[-1] + sep + tail
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def hide_url_secrets(text: str, url: str | None) -> str:
    """`text` (an error message that may quote `url`) without the user name, password and query
    of `url`."""
    if not url:
        return text
    text = text.replace(url, public_url(url))
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed: the whole URL was the one thing to hide
        return text
    userinfo, at, _host = parts.netloc.rpartition("@")
    for secret in (userinfo + at, "?" + parts.query if parts.query else ""):
        if secret:
            text = text.replace(secret, "")
    return text


def destination(url: str | None, api: bool = False) -> tuple[str, str, int | None, bytes] | None:
    """Where requests to `url` go: (scheme, host, port, path), read the way httpx, which sends them,
    reads it (case of scheme and host, default ports, a trailing "/" make no difference; user name
    and query are left out); None when it is no URL. `api`: `url` is an OpenAI base URL, so
    "http://h" and "http://h/v1/" are the same place."""
    import httpx

    if not url:
        return None
    try:
        parsed = httpx.URL(api_root(url) if api else url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if not parsed.scheme or not parsed.host:
        return None
    port = parsed.port or {"http": 80, "https": 443}.get(parsed.scheme)
    return parsed.scheme, parsed.host, port, parsed.raw_path.split(b"?", 1)[0].rstrip(b"/")


def same_destination(a: str | None, b: str | None, api: bool = False) -> bool:
    """`a` and `b` send requests to the same server and path prefix (credentials and query aside)."""
    if not a or not b:
        return False
    where_a, where_b = destination(a, api), destination(b, api)
    if where_a is None or where_b is None:  # local paths (Milvus Lite), or unparsable: exact text only
        return a == b
    return where_a == where_b


def store_location(settings: Settings) -> str:
    """Where collections live, for captions: the store and its address, never credentials."""
    return str(store_location_message(settings))


def store_location_message(settings: Settings) -> Message:
    """`store_location` as a translatable message."""
    kind = settings.store_kind
    if kind == "milvus-lite":
        return Message(N_("Milvus Lite at {where}"), {"where": str(settings.milvus_uri)})
    if kind == "milvus":
        return Message(N_("Milvus at {where}"), {"where": public_url(settings.milvus_uri or "")})
    if kind == "chroma-server":
        return Message(N_("Chroma server {where}"), {"where": f"{settings.chroma_host}:{settings.chroma_port}"})
    return Message(N_("embedded Chroma at {where}"), {"where": str(settings.chroma_dir)})


def read_secrets(path: Path = SECRETS_PATH) -> dict[str, Any]:
    """Top-level keys of a secrets.toml file; {} when it does not exist."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(N_("{path} is not valid TOML: {detail}"), path=str(path), detail=str(exc)) from exc


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
            raise SettingsError(N_("EMBEDDING_DIMENSIONS must be a whole number, got {raw}"), raw=repr(raw)) from None
        # 0 means "the model's full size", as in the sidebar.
        if value == 0:
            return None
        if value < 1:
            raise SettingsError(N_("EMBEDDING_DIMENSIONS must be positive, got {raw}"), raw=value)
        return value
    if name == "embedding_timeout_s":
        try:
            seconds = float(raw)
        except (TypeError, ValueError):
            raise SettingsError(N_("EMBEDDING_TIMEOUT must be a number of seconds, got {raw}"), raw=repr(raw)) from None
        if not 0 < seconds <= MAX_TIMEOUT_S:
            raise SettingsError(N_("EMBEDDING_TIMEOUT must be more than 0 and at most {max} seconds, got {raw}"),
                                max=f"{MAX_TIMEOUT_S:.0f}", raw=raw)
        return seconds
    if name == "chroma_port":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise SettingsError(N_("CHROMA_PORT must be a port number, got {raw}"), raw=repr(raw)) from None
    if name == "connection_locked":
        flag = str(raw).lower()
        if flag not in _TRUE + _FALSE:
            raise SettingsError(N_("PLAYGROUND_LOCK_CONNECTION must be 1 or 0, got {raw}"), raw=repr(raw))
        return flag in _TRUE
    if name.endswith("base_url"):
        return str(raw).rstrip("/")
    if name == "milvus_uri":
        uri = str(raw)
        if not is_milvus_lite(uri) and urlsplit(uri).scheme.lower() not in MILVUS_SCHEMES:
            raise SettingsError(
                N_("MILVUS_URI must be a Milvus server URL (http://host:19530) or a Milvus Lite file "
                   "path ending in .db (./data/milvus.db), got {raw}"), raw=repr(public_url(uri)),
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
            means "not overridden", an empty string clears the setting. Only SESSION_FIELDS
            are taken, and with PLAYGROUND_LOCK_CONNECTION not the LOCKED_FIELDS.

    A configured credential (EMBEDDING_API_KEY, MILVUS_TOKEN) stays only while its address is the
    configured one: overriding the address to another server drops it, unless the session gives
    its own credential.
    """
    return read_settings(env, secrets, overrides, strict=True)[0]


def _merged(configured: Mapping[str, Any], session: Mapping[str, Any]) -> dict[str, Any]:
    """The session's values over the configured ones, as Settings arguments: a configured
    credential is dropped when the session points its address at another server (unless the
    session gives its own), and a cleared value gives way to the field's default."""
    values = {**configured, **session}
    for credential, (address, api) in CREDENTIALS.items():
        now, then = values.get(address), configured.get(address)
        if credential not in session and now != then and not same_destination(now, then, api):
            values.pop(credential, None)
    # None (a cleared value) means the field's default, except where None is the meaning itself.
    return {name: value for name, value in values.items()
            if value is not None or name in ("embedding_base_url", "embedding_dimensions")}


def read_settings(
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> tuple[Settings, list[Message]]:
    """Like load_settings, but an unusable value (or secrets file) is left out and reported:
    that one setting keeps its default and every other setting is still read.

    Returns:
        (settings, problems): one message per value left out, naming the variable and what is
        used instead. With strict=True the first problem is raised as SettingsError instead.
    """
    problems: list[Message] = []

    def refuse(exc: SettingsError, fallback: str) -> None:
        if strict:
            raise exc
        problems.append(Message(N_("{problem}; {fallback}."), {"problem": exc.message, "fallback": Message(fallback)}))

    if env is None:
        with ENV_LOCK:  # never read while stores.milvus hides MILVUS_URI from pymilvus's import
            env = dict(os.environ)
    if secrets is None:
        try:
            secrets = read_secrets()
        except SettingsError as exc:
            refuse(exc, N_("the file is ignored"))
            secrets = {}

    def convert(name: str, raw: Any, into: dict[str, Any]) -> None:
        try:
            into[name] = _convert(name, raw)
        except SettingsError as exc:
            refuse(exc, _FALLBACKS.get(name, N_("the default is used")))

    configured: dict[str, Any] = {}
    for f in fields(Settings):
        key = ENV_KEYS[f.name]
        if env.get(key) not in (None, ""):
            convert(f.name, env[key], configured)
        elif secrets.get(key) not in (None, ""):
            convert(f.name, secrets[key], configured)
    allowed = set(SESSION_FIELDS)
    if configured.get("connection_locked"):
        allowed -= set(LOCKED_FIELDS)
    session: dict[str, Any] = {}
    for name, raw in (overrides or {}).items():
        if name in allowed and raw is not None:
            convert(name, raw, session)
    values = _merged(configured, session)
    settings = Settings(**values)
    dims = settings.embedding_dimensions
    low, high = dimension_range(settings.vector_model)
    if dims is not None and not (low <= dims <= (high or dims)):
        refuse(SettingsError(N_("EMBEDDING_DIMENSIONS={dims} is outside the sizes {model} offers ({low} to {high})"),
                             dims=dims, model=settings.vector_model, low=low, high=high),
               _FALLBACKS["embedding_dimensions"])
        settings = Settings(**{**values, "embedding_dimensions": None})
    return settings, problems
