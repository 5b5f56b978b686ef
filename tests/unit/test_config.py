import pytest

from embedlab.config import DEFAULT_MODEL, SettingsError, load_settings


def test_defaults_use_the_local_model():
    s = load_settings(env={}, secrets={})
    assert s.backend == "local" and s.embedding_model == DEFAULT_MODEL and s.data_dir == "data"
    assert str(s.chroma_dir) == "data/chroma"


def test_precedence_overrides_then_env_then_secrets():
    secrets = {"EMBEDDING_BASE_URL": "http://secret/v1", "EMBEDDING_MODEL": "from-secrets", "CHROMA_PORT": 9000}
    env = {"EMBEDDING_BASE_URL": "http://env/v1/"}
    s = load_settings(env=env, secrets=secrets)
    assert s.embedding_base_url == "http://env/v1" and s.embedding_model == "from-secrets"
    assert s.chroma_port == 9000 and s.backend == "server"
    s = load_settings(env=env, secrets=secrets, overrides={"embedding_model": "mine", "embedding_dimensions": 256})
    assert s.embedding_model == "mine" and s.embedding_dimensions == 256
    # An empty override clears the URL: back to the local model.
    assert load_settings(env=env, secrets=secrets, overrides={"embedding_base_url": ""}).backend == "local"


def test_zero_dimensions_means_full():
    assert load_settings(env={"EMBEDDING_DIMENSIONS": "0"}, secrets={}).embedding_dimensions is None


def test_bad_values_name_the_variable():
    with pytest.raises(SettingsError, match="EMBEDDING_DIMENSIONS"):
        load_settings(env={"EMBEDDING_DIMENSIONS": "lots"}, secrets={})
    with pytest.raises(SettingsError, match="CHROMA_PORT"):
        load_settings(env={"CHROMA_PORT": "x"}, secrets={})


@pytest.mark.parametrize(("raw", "why"), [
    ("soon", "must be a number of seconds, got 'soon'"),
    ("0", "must be more than 0 and at most 600 seconds, got 0"),
    ("601", "must be more than 0 and at most 600 seconds, got 601"),
])
def test_the_request_timeout_is_configurable_and_a_bad_one_falls_back_to_30_s(raw, why):
    from embedlab.backends import make_backend
    from embedlab.config import read_settings

    base = {"EMBEDDING_BASE_URL": "http://h:30000/v1"}
    assert load_settings(env=base, secrets={}).embedding_timeout_s == 30.0
    slow = load_settings(env={**base, "EMBEDDING_TIMEOUT": "90.5"}, secrets={})
    assert make_backend(slow).timeout_s == 90.5 and make_backend(slow, timeout_s=5.0).timeout_s == 5.0
    settings, problems = read_settings(env={**base, "EMBEDDING_TIMEOUT": raw}, secrets={})
    assert [str(p) for p in problems] == [f"EMBEDDING_TIMEOUT {why}; 30 s is used."]
    assert settings.embedding_timeout_s == 30.0 and settings.embedding_base_url == "http://h:30000/v1"


def test_api_key_is_not_in_repr():
    s = load_settings(env={"EMBEDDING_API_KEY": "sk-secret"}, secrets={})
    assert s.embedding_api_key == "sk-secret" and "sk-secret" not in repr(s)


def test_api_root_and_server_root_accept_either_form():
    from embedlab.config import api_root, server_root

    for url in ("http://h:30000", "http://h:30000/", "http://h:30000/v1", "http://h:30000/v1/"):
        assert api_root(url) == "http://h:30000/v1"
        assert server_root(url) == "http://h:30000"


@pytest.mark.parametrize(("raw", "why"), [("-1", "must be positive, got -1"), ("abc", "must be a whole number, got 'abc'")])
def test_an_unusable_value_is_reported_and_only_it_falls_back(raw, why):
    from embedlab.config import read_settings

    env = {"EMBEDDING_DIMENSIONS": raw, "EMBEDDING_BASE_URL": "http://h:30000/v1", "EMBEDDING_MODEL": "m",
           "PLAYGROUND_DATA_DIR": "/srv/data"}
    settings, problems = read_settings(env=env, secrets={})
    assert [str(p) for p in problems] == [f"EMBEDDING_DIMENSIONS {why}; the model's full size is used."]
    assert settings.embedding_dimensions is None
    # Everything else configured still applies (the old fallback dropped it all, then failed again).
    assert (settings.embedding_base_url, settings.embedding_model, settings.data_dir) == ("http://h:30000/v1", "m",
                                                                                          "/srv/data")


def test_a_broken_secrets_file_is_reported_and_the_environment_still_applies(tmp_path, monkeypatch):
    from embedlab.config import read_settings

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('EMBEDDING_MODEL = "unterminated\n')
    settings, [problem] = read_settings(env={"EMBEDDING_MODEL": "from-env"})
    assert "secrets.toml is not valid TOML" in str(problem) and str(problem).endswith("the file is ignored.")
    assert settings.embedding_model == "from-env"
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(env={})


@pytest.mark.parametrize(("model", "bounds"), [
    ("Qwen/Qwen3-Embedding-0.6B", (32, 1024)),
    ("Qwen/Qwen3-Embedding-4B", (32, 2560)),
    ("Qwen/Qwen3-Embedding-8B", (32, 4096)),
    ("dengcao/Qwen3-Embedding-0.6B:Q8_0", (32, 1024)),  # an Ollama GGUF build
    ("qwen3-embedding:8b", (32, 4096)),  # Ollama's own tag
    ("Qwen/Qwen3-Embedding-0.6B-GGUF", (32, 1024)),
    ("multilingual-e5-small-q4", (1, None)),  # unknown: only its server knows
    ("qwen3-embedding", (1, None)),  # no size in the name
])
def test_dimension_bounds_come_from_the_model(model, bounds):
    from embedlab.config import dimension_range

    assert dimension_range(model) == bounds


@pytest.mark.parametrize(("model", "dims", "kept"), [
    ("Qwen/Qwen3-Embedding-0.6B", "5000", False),
    ("Qwen/Qwen3-Embedding-0.6B", "2048", False),  # the tuning guide's size: not a 0.6B size
    ("Qwen/Qwen3-Embedding-0.6B", "16", False),
    ("Qwen/Qwen3-Embedding-0.6B", "1024", True),
    ("Qwen/Qwen3-Embedding-0.6B", "32", True),
    ("Qwen/Qwen3-Embedding-4B", "2048", True),
    ("Qwen/Qwen3-Embedding-8B", "4096", True),
    ("multilingual-e5-small-q4", "5000", True),  # the server's answer bounds it (backends)
])
def test_dimensions_outside_the_models_range_fall_back_to_full_size(model, dims, kept):
    from embedlab.config import dimension_range, read_settings

    env = {"EMBEDDING_BASE_URL": "http://h:30000/v1", "EMBEDDING_MODEL": model, "EMBEDDING_DIMENSIONS": dims}
    settings, problems = read_settings(env=env, secrets={})
    if kept:
        assert settings.embedding_dimensions == int(dims) and problems == []
    else:
        low, high = dimension_range(model)
        assert settings.embedding_dimensions is None
        assert [str(p) for p in problems] == [
            f"EMBEDDING_DIMENSIONS={dims} is outside the sizes {model} offers ({low} to {high}); "
            "the model's full size is used."]
        with pytest.raises(SettingsError, match=f"EMBEDDING_DIMENSIONS={dims} is outside"):
            load_settings(env=env, secrets={})


def test_the_local_backend_is_bounded_by_the_model_it_runs():
    from embedlab.config import read_settings

    # A server model name left in the settings does not matter: the local backend runs Qwen3-Embedding-0.6B.
    settings, [problem] = read_settings(env={"EMBEDDING_MODEL": "Qwen/Qwen3-Embedding-8B", "EMBEDDING_DIMENSIONS": "2048"},
                                        secrets={})
    assert settings.backend == "local" and settings.embedding_dimensions is None
    assert "Qwen/Qwen3-Embedding-0.6B offers (32 to 1024)" in str(problem)



CONFIGURED = {"EMBEDDING_BASE_URL": "http://gpu-a:30000/v1", "EMBEDDING_API_KEY": "sk-configured"}


@pytest.mark.parametrize("url", [
    "http://gpu-a:30000/v1", "http://gpu-a:30000/v1/", "http://gpu-a:30000", "HTTP://GPU-A:30000/v1",
    "http://someone:pw@gpu-a:30000/v1",
])
def test_the_configured_key_stays_with_the_configured_server_however_it_is_written(url):
    s = load_settings(env=CONFIGURED, secrets={}, overrides={"embedding_base_url": url})
    assert s.embedding_api_key == "sk-configured"


@pytest.mark.parametrize("url", [
    "http://evil:30000/v1",  # another host
    "https://gpu-a:30000/v1",  # another scheme
    "http://gpu-a:30001/v1",  # another port
    "http://gpu-a:30000/proxy/v1",  # another path prefix
    "http://gpu-a:30000\\@evil:30000/v1",  # parsed as host "evil" by the client that sends it
    "http://gpu-a.evil:30000/v1",
    "",  # the in-process model
])
def test_the_configured_key_never_goes_to_another_address(url):
    s = load_settings(env=CONFIGURED, secrets={}, overrides={"embedding_base_url": url})
    assert s.embedding_api_key is None, url
    # A key of the session's own goes with the address it was given with.
    own = load_settings(env=CONFIGURED, secrets={}, overrides={"embedding_base_url": url, "embedding_api_key": "mine"})
    assert own.embedding_api_key == "mine"


def test_default_ports_and_secrets_file_count_as_configured():
    assert load_settings(env={}, secrets={"EMBEDDING_BASE_URL": "https://api.example/v1", "EMBEDDING_API_KEY": "k"},
                         overrides={"embedding_base_url": "https://api.example:443/v1"}).embedding_api_key == "k"
    # A key configured without a server goes nowhere a session points the app.
    assert load_settings(env={"EMBEDDING_API_KEY": "k"}, secrets={},
                         overrides={"embedding_base_url": "http://h/v1"}).embedding_api_key is None


def test_sessions_override_only_the_embedding_connection():
    env = {"MILVUS_URI": "http://milvus-a:19530", "MILVUS_TOKEN": "root:pw", "RERANK_BASE_URL": "http://rr/v1",
           "CHROMA_HOST": "chroma-a", "PLAYGROUND_DATA_DIR": "/srv/data"}
    s = load_settings(env=env, secrets={}, overrides={
        "milvus_uri": "http://evil:19530", "rerank_base_url": "http://evil/v1", "chroma_host": "evil",
        "data_dir": "/tmp/evil", "connection_locked": False, "milvus_token": "x"})
    assert (s.milvus_uri, s.milvus_token, s.rerank_base_url, s.chroma_host, s.data_dir) == (
        "http://milvus-a:19530", "root:pw", "http://rr/v1", "chroma-a", "/srv/data")


def test_a_locked_connection_ignores_session_addresses_and_keys():
    env = {**CONFIGURED, "PLAYGROUND_LOCK_CONNECTION": "1"}
    s = load_settings(env=env, secrets={}, overrides={
        "embedding_base_url": "http://evil/v1", "embedding_api_key": "mine", "embedding_model": "m2",
        "embedding_dimensions": 256})
    assert (s.embedding_base_url, s.embedding_api_key) == ("http://gpu-a:30000/v1", "sk-configured")
    assert (s.embedding_model, s.embedding_dimensions, s.connection_locked) == ("m2", 256, True)
    # Not even to the in-process model (a 2.4 GB download from the hub).
    assert load_settings(env=env, secrets={}, overrides={"embedding_base_url": ""}).backend == "server"
    assert load_settings(env={"PLAYGROUND_LOCK_CONNECTION": "0"}, secrets={}).connection_locked is False
    with pytest.raises(SettingsError, match="PLAYGROUND_LOCK_CONNECTION"):
        load_settings(env={"PLAYGROUND_LOCK_CONNECTION": "maybe"}, secrets={})


@pytest.mark.parametrize(("url", "shown"), [
    ("http://user:pw@host:8000/v1?key=sk-1#frag", "http://host:8000/v1"),
    ("https://[::1]:30000/v1", "https://[::1]:30000/v1"),
    ("http://host/v1", "http://host/v1"),
    ("user:pw@host:8000/v1?key=sk-1", "host:8000/v1"),  # no scheme
    ("http://user:pw@host:99999/v1?key=sk-1", "host:99999/v1"),  # a port urllib refuses
    ("./data/milvus.db", "./data/milvus.db"),
])
def test_public_url_drops_user_password_query_and_fragment(url, shown):
    from embedlab.config import public_url

    assert public_url(url) == shown


def test_messages_quoting_a_url_lose_its_secrets():
    from embedlab.config import hide_url_secrets

    url = "http://admin:pw-77@milvus:19530?token=tk-88"
    text = f"Fail connecting to server on {url}; also admin:pw-77@milvus:19530 and ?token=tk-88"
    hidden = hide_url_secrets(text, url)
    assert "pw-77" not in hidden and "tk-88" not in hidden and "admin" not in hidden
    assert "http://milvus:19530" in hidden


def test_the_embedder_id_and_messages_carry_no_credentials():
    from embedlab.backends import EmbeddingError, OpenAICompatibleEmbedder
    from tests.support.procs import free_port

    port = free_port()
    embedder = OpenAICompatibleEmbedder(f"http://user:pw-55@127.0.0.1:{port}/v1", "m", timeout_s=1, max_attempts=1)
    assert embedder.model_id == f"m@http://127.0.0.1:{port}/v1"
    with pytest.raises(EmbeddingError) as failure:
        embedder.embed(["x"])
    assert "pw-55" not in str(failure.value) and f"127.0.0.1:{port}" in str(failure.value)
