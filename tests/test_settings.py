"""One parser family for every setting: a negative, NaN, infinite or garbled value is refused naming the variable,
the bad value (never a secret's) and the fix; unset or blank means the default; and one resolver orders a flag,
the environment and the Airflow connection the same way for every URL and secret."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from llf import settings
from llf.exceptions import ConfigurationError
from llf.services.llm.settings import LlmSettings
from llf.settings import REGISTRY, Seconds, Setting, Text, Whole

NUMBERS = [setting for setting in REGISTRY.values() if isinstance(setting.kind, Seconds | Whole)]
GARBAGE = ["-5", "nan", "NaN", "inf", "-inf", "soon", "1e999", "5s"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REGISTRY:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("raw", GARBAGE)
@pytest.mark.parametrize("setting", NUMBERS, ids=lambda setting: setting.name)
def test_given_a_number_setting_that_is_negative_nan_infinite_or_garbage_when_read_then_refused_naming_it(
    monkeypatch, setting, raw
):
    monkeypatch.setenv(setting.name, raw)

    with pytest.raises(ConfigurationError) as refused:
        setting.read()

    message = str(refused.value)
    assert message.startswith(f"{setting.name}={raw!r} is not {setting.kind.expected}")
    assert f"unset it for {settings.plain(setting.default)}" in message


@pytest.mark.parametrize("setting", NUMBERS, ids=lambda setting: setting.name)
def test_given_a_number_setting_unset_or_blank_when_read_then_its_default(monkeypatch, setting):
    assert setting.read() == setting.default
    monkeypatch.setenv(setting.name, "  ")
    assert setting.read() == setting.default


@pytest.mark.parametrize(("setting", "zero_ok"), [
    (settings.LOCK_CHECK_SECONDS, False), (settings.LLM_TIMEOUT, False), (settings.LLM_ATTEMPTS, False),
    (settings.LLM_CONCURRENCY, False), (settings.LOCAL_PORT, False),
    (settings.SNAPSHOT_REFRESH_SECONDS, True), (settings.SNAPSHOT_REFRESH_BUDGET_SECONDS, True),
    (settings.LLM_RETRY_WAIT, True), (settings.LLM_REASKS, True), (settings.LLAMACPP_THREADS, True),
], ids=lambda value: getattr(value, "name", str(value)))
def test_given_zero_when_read_then_accepted_only_where_zero_means_something(monkeypatch, setting, zero_ok):
    monkeypatch.setenv(setting.name, "0")

    if zero_ok:
        assert setting.read() == 0
    else:
        with pytest.raises(ConfigurationError, match=setting.name):
            setting.read()


def test_given_the_two_readers_that_disagreed_when_read_then_both_follow_the_one_rule(monkeypatch):
    """Issue 23: LLF_LLM_TIMEOUT=-5 was accepted while LLF_LOCK_CHECK_SECONDS=0 was refused."""
    monkeypatch.setenv("LLF_LLM_TIMEOUT", "-5")
    with pytest.raises(ConfigurationError, match="LLF_LLM_TIMEOUT='-5' is not a number of seconds > 0"):
        LlmSettings.from_env()
    monkeypatch.setenv("LLF_LOCK_CHECK_SECONDS", "0")
    with pytest.raises(ConfigurationError, match="LLF_LOCK_CHECK_SECONDS='0' is not a number of seconds > 0"):
        settings.lock_check_seconds()


def test_given_good_values_when_read_then_parsed(monkeypatch):
    monkeypatch.setenv("LLF_LLM_TIMEOUT", "0.25")
    monkeypatch.setenv("LLF_LLM_ATTEMPTS", " 3 ")
    monkeypatch.setenv("LLF_LOCAL_PORT", "65535")
    monkeypatch.setenv("LLF_LLM_HOOKS", " logging, ,pkg.mod:factory ")

    assert settings.LLM_TIMEOUT.value() == 0.25 and settings.LLM_ATTEMPTS.value() == 3
    assert settings.LOCAL_PORT.value() == 65535
    assert settings.LLM_HOOKS.value() == ("logging", "pkg.mod:factory")


@pytest.mark.parametrize(("setting", "raw"), [
    (settings.LLM_ATTEMPTS, "1.5"), (settings.LOCAL_PORT, "65536"), (settings.LLAMACPP_CONTEXT, "100"),
])
def test_given_a_whole_number_out_of_range_or_fractional_when_read_then_refused(monkeypatch, setting, raw):
    monkeypatch.setenv(setting.name, raw)

    with pytest.raises(ConfigurationError, match=f"{setting.name}='{raw}' is not {setting.kind.expected}"):
        setting.read()


@pytest.mark.parametrize(("raw", "expected"), [
    ("on", True), ("TRUE", True), ("yes", True), ("1", True), ("off", False), ("False", False), ("no", False),
    ("0", False), ("", True),
])
def test_given_a_flag_spelled_any_usual_way_when_read_then_understood(monkeypatch, raw, expected):
    monkeypatch.setenv("LLF_LLM_CACHE", raw)

    assert settings.LLM_CACHE.value() is expected


@pytest.mark.parametrize("setting", [settings.LLM_CACHE, settings.MINIO_SECURE], ids=lambda setting: setting.name)
def test_given_a_flag_that_is_neither_on_nor_off_when_read_then_refused_not_taken_for_off(monkeypatch, setting):
    monkeypatch.setenv(setting.name, "sometimes")

    with pytest.raises(ConfigurationError, match=f"{setting.name}='sometimes' is not on or off"):
        setting.read()


def test_given_a_choice_when_read_then_any_case_is_taken_and_anything_else_refused_listing_the_options(monkeypatch):
    monkeypatch.setenv("LLF_LLM_PROVIDER", " OpenAI ")
    assert settings.LLM_PROVIDER.value() == "openai"
    monkeypatch.setenv("LLF_LLM_PROVIDER", "gpt")

    with pytest.raises(ConfigurationError) as refused:
        settings.LLM_PROVIDER.value()

    assert str(refused.value) == ("LLF_LLM_PROVIDER='gpt' is not one of ollama, openai, llamacpp; "
                                  "unset it for ollama.")


def test_given_a_url_of_another_scheme_when_read_then_refused_without_its_password(monkeypatch):
    monkeypatch.setenv("LLF_AIRFLOW_URL", "ftp://admin:hunter2@airflow:8080")

    with pytest.raises(ConfigurationError) as refused:
        settings.airflow_url()

    message = str(refused.value)
    assert "LLF_AIRFLOW_URL='ftp://***@airflow:8080'" in message and "http://" in message
    assert "hunter2" not in message


def test_given_the_vector_url_word_or_a_url_when_read_then_accepted(monkeypatch):
    assert settings.VECTOR_URL.value() == "pgvector"
    monkeypatch.setenv("LLF_VECTOR_URL", "weaviate://127.0.0.1:8080?grpc_port=50051")
    assert settings.VECTOR_URL.value().startswith("weaviate://")
    monkeypatch.setenv("LLF_VECTOR_URL", "qdrant")
    with pytest.raises(ConfigurationError, match="LLF_VECTOR_URL='qdrant' is not pgvector, or a URL"):
        settings.VECTOR_URL.value()


def test_given_a_secret_that_does_not_parse_when_read_then_the_error_names_it_but_never_shows_its_value(
    monkeypatch,
):
    secret = Setting("LLF_TEST_SECRET_NUMBER", Seconds(), "a secret number", secret=True)
    monkeypatch.setenv(secret.name, "s3cret-value")

    with pytest.raises(ConfigurationError) as refused:
        secret.read()

    message = str(refused.value)
    assert "LLF_TEST_SECRET_NUMBER" in message and "s3cret-value" not in message


def test_given_the_registry_then_every_credential_is_a_secret():
    for name in ("LLF_CONTROL_DB_URL", "LLF_NOTEBOOK_DB_URL", "LLF_WEAVIATE_API_KEY", "LLF_OPENAI_API_KEY",
                 "LLF_MINIO_SECRET_KEY", "LLF_AIRFLOW_PASSWORD"):
        assert REGISTRY[name].secret, name


def test_given_a_required_setting_unset_when_its_value_is_needed_then_the_error_says_what_to_set():
    with pytest.raises(ConfigurationError, match="LLF_MINIO_ENDPOINT is not set: set it to host:port"):
        settings.MINIO_ENDPOINT.value()


def test_given_a_name_registered_twice_then_import_would_fail():
    with pytest.raises(AssertionError, match="LLF_LLM_TIMEOUT is registered twice"):
        settings._setting(Setting("LLF_LLM_TIMEOUT", Text(), "again"))


@pytest.fixture
def airflow_connections(monkeypatch: pytest.MonkeyPatch) -> dict[str, SimpleNamespace]:
    """Airflow connections by id, as llf.settings would find them (no Airflow needed)."""
    found: dict[str, SimpleNamespace] = {}
    monkeypatch.setattr(settings, "_airflow_connection", found.get)
    return found


def _connection(uri: str, password: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(get_uri=lambda: uri, password=password)


def test_given_a_flag_an_environment_and_a_connection_when_resolved_then_in_that_order(
    monkeypatch, airflow_connections
):
    airflow_connections["cntl_af"] = _connection("postgres://from-airflow/db")
    assert settings.control_db_url() == "postgresql://from-airflow/db"
    monkeypatch.setenv("LLF_CONTROL_DB_URL", "postgresql://from-env/db")
    assert settings.control_db_url() == "postgresql://from-env/db"
    assert settings.control_db_url("postgresql://from-flag/db") == "postgresql://from-flag/db"


def test_given_nothing_configured_when_resolved_then_each_url_names_its_settings(airflow_connections):
    with pytest.raises(ConfigurationError, match="--db-url, set LLF_CONTROL_DB_URL.*'cntl_af'"):
        settings.control_db_url()
    with pytest.raises(ConfigurationError, match="set LLF_NOTEBOOK_DB_URL .*'cntl_af_notebook'"):
        settings.notebook_db_url()


def test_given_a_weaviate_password_in_airflow_when_resolved_then_read_only_for_a_weaviate_store(
    monkeypatch, airflow_connections
):
    airflow_connections["llf_vectors"] = _connection("http://weaviate", password="from-airflow")
    assert settings.weaviate_api_key() is None
    monkeypatch.setenv("LLF_VECTOR_URL", "weaviate://weaviate:8080")
    assert settings.weaviate_api_key() == "from-airflow"
    monkeypatch.setenv("LLF_WEAVIATE_API_KEY", "from-env")
    assert settings.weaviate_api_key() == "from-env"


def test_given_no_state_dir_when_resolved_then_airflow_home_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    assert settings.state_dir() == tmp_path / "airflow" / "llf"
    monkeypatch.setenv("LLF_STATE_DIR", str(tmp_path / "state"))
    assert settings.state_dir() == tmp_path / "state"
