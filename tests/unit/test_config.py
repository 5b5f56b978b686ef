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


def test_api_key_is_not_in_repr():
    s = load_settings(env={"EMBEDDING_API_KEY": "sk-secret"}, secrets={})
    assert s.embedding_api_key == "sk-secret" and "sk-secret" not in repr(s)


def test_api_root_and_server_root_accept_either_form():
    from embedlab.config import api_root, server_root

    for url in ("http://h:30000", "http://h:30000/", "http://h:30000/v1", "http://h:30000/v1/"):
        assert api_root(url) == "http://h:30000/v1"
        assert server_root(url) == "http://h:30000"
