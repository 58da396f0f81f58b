"""Settings: FONOTECA_* variables validated once at load, CLI flags over them, secrets that never show."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fonoteca.errors import ConfigError, LLMError
from fonoteca.llm.client import LLMClient
from fonoteca.settings import Settings


def test_a_device_that_does_not_exist_stops_the_cli_at_start_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = {**os.environ, "FONOTECA_HOME": str(tmp_path / "x"), "FONOTECA_DEVICE": "gpu"}
    result = subprocess.run(
        [sys.executable, "-m", "fonoteca", "stats"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["error: FONOTECA_DEVICE: 'gpu' is not one of auto, cpu, cuda"]
    assert not (tmp_path / "x").exists()  # refused before anything was made


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("FONOTECA_DEVICE", "tpu", "FONOTECA_DEVICE: 'tpu' is not one of auto, cpu, cuda"),
        (
            "FONOTECA_COMPUTE_TYPE",
            "int4",
            "FONOTECA_COMPUTE_TYPE: 'int4' is not one of auto, default, int8, int8_float32, int8_float16, "
            "int8_bfloat16, int16, float16, bfloat16, float32",
        ),
        ("FONOTECA_EMBEDDINGS", "remote", "FONOTECA_EMBEDDINGS: 'remote' is not one of packaged, endpoint, none"),
        ("FONOTECA_PORT", "eighty", "FONOTECA_PORT: 'eighty' is not a whole number"),
        ("FONOTECA_BEAM_SIZE", "2.5", "FONOTECA_BEAM_SIZE: '2.5' is not a whole number"),
        ("FONOTECA_LLM_TEMPERATURE", "warm", "FONOTECA_LLM_TEMPERATURE: 'warm' is not a number"),
        ("FONOTECA_DOWNLOAD_TIMEOUT", "inf", "FONOTECA_DOWNLOAD_TIMEOUT: 'inf' is not a finite number"),
        ("FONOTECA_BATCHED", "sometimes", "FONOTECA_BATCHED: 'sometimes' is not true or false"),
    ],
)
def test_a_value_that_is_not_valid_is_one_line_naming_the_variable_and_what_it_takes(variable, value, line) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ={variable: value})
    assert str(caught.value).startswith(line) and "\n" not in str(caught.value)


def test_every_wrong_variable_is_named_on_the_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ={"FONOTECA_DEVICE": "gpu", "FONOTECA_PORT": "70000"})
    assert str(caught.value) == (
        "FONOTECA_DEVICE: 'gpu' is not one of auto, cpu, cuda; "
        "FONOTECA_PORT: '70000' is not valid (input should be less than or equal to 65535)"
    )


def test_a_wrong_value_given_as_a_flag_is_named_as_the_flag_and_one_from_the_environment_as_its_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ={"FONOTECA_DEVICE": "gpu"}, port=70000)
    assert str(caught.value) == (
        "FONOTECA_DEVICE: 'gpu' is not one of auto, cpu, cuda; "
        "--port: 70000 is not valid (input should be less than or equal to 65535)"
    )
    with pytest.raises(ConfigError, match=r"^--public-chat: 'maybe' is not true or false"):
        Settings.from_env(environ={}).with_flags(public_chat="maybe")  # a command's flag over the global ones
    served = subprocess.run(
        [sys.executable, "-m", "fonoteca", "serve", "--port", "99999"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "FONOTECA_PORT": ""},
    )  # fmt: skip
    assert (
        served.returncode != 0
        and "--port: 99999 is not valid" in served.stderr
        and "FONOTECA_PORT" not in served.stderr
    )


def test_choices_are_read_whatever_their_case_and_surrounding_spaces() -> None:
    settings = Settings.from_env(environ={"FONOTECA_DEVICE": " CPU", "FONOTECA_EMBEDDINGS": "None "})
    assert (settings.device, settings.embeddings) == ("cpu", "none")


def test_variables_are_read_as_their_fields_type_and_an_empty_one_counts_as_unset() -> None:
    settings = Settings.from_env(
        environ={"FONOTECA_VAD": "off", "FONOTECA_WINDOW_MINUTES": "2.5", "FONOTECA_PORT": "", "FONOTECA_DB": ""}
    )
    assert (settings.vad, settings.window_minutes, settings.port, settings.db) == (False, 2.5, 8000, None)


def test_cli_flags_win_over_the_environment_and_a_flag_not_given_leaves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FONOTECA_PORT", "9000")
    monkeypatch.setenv("FONOTECA_DEVICE", "cpu")
    settings = Settings.from_env(port=8001, device=None)
    assert (settings.port, settings.device) == (8001, "cpu")


def test_given_environ_leaves_the_process_variables_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FONOTECA_DEVICE", "gpu")  # not valid: read, it would fail
    monkeypatch.setenv("FONOTECA_PORT", "9000")
    settings = Settings.from_env(environ={"FONOTECA_BEAM_SIZE": "1"})
    assert (settings.device, settings.port, settings.beam_size) == ("auto", 8000, 1)


def test_a_dotenv_file_in_the_current_folder_is_not_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FONOTECA_PORT=1234\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FONOTECA_PORT", raising=False)
    assert Settings.from_env().port == 8000


def test_replace_changes_what_is_given_and_validates_it_like_a_variable(settings: Settings) -> None:
    changed = settings.replace(beam_size=1, device=None)
    assert (changed.beam_size, changed.device, changed.home) == (1, settings.device, settings.home)
    assert settings.beam_size == 5  # the original is left as it was
    with pytest.raises(ConfigError, match=r"^FONOTECA_DEVICE: 'tpu' is not one of auto, cpu, cuda$"):
        settings.replace(device="tpu")
    with pytest.raises(TypeError, match="not settings: devise"):
        settings.replace(devise="cpu")


def test_the_user_folder_is_expanded_in_home_and_db() -> None:
    settings = Settings.from_env(environ={"FONOTECA_HOME": "~/fonoteca-h"}, db="~/a.db")
    assert settings.home == Path.home() / "fonoteca-h" and settings.db_path == Path.home() / "a.db"
    assert settings.index_dir == Path.home() / "a.index"


def test_secrets_never_show_in_repr_or_str_and_the_code_that_sends_them_gets_them() -> None:
    settings = Settings.from_env(
        environ={
            "FONOTECA_TOKEN": "tok-123",
            "FONOTECA_LLM_API_KEY": "sk-456",
            "FONOTECA_DATABASE_URL": "postgresql://fono:pw-789@db.lan:5433/archivo",
        }
    )
    shown = repr(settings) + str(settings) + f"{settings.database_url} {settings.token} {settings.llm_api_key}"
    assert not any(secret in shown for secret in ("tok-123", "sk-456", "pw-789"))
    assert "postgresql://fono:***@db.lan:5433/archivo" in shown  # which archive it is still shows
    assert settings.token.get_secret_value() == "tok-123" and settings.llm_api_key.get_secret_value() == "sk-456"
    assert settings.archive_location == "postgresql://fono:pw-789@db.lan:5433/archivo"
    assert settings.index_dir == settings.home / "db-lan-5433-archivo.index"


def test_an_unset_token_or_database_url_is_false_and_the_archive_is_the_sqlite_file() -> None:
    settings = Settings.from_env(environ={"FONOTECA_HOME": "/tmp/fonoteca-h"})
    assert not settings.token and not settings.database_url
    assert settings.archive_location == Path("/tmp/fonoteca-h/fonoteca.db")


def test_the_llm_api_key_reaches_the_server_as_the_bearer_token(settings: Settings, http_server) -> None:
    client = LLMClient(settings.replace(llm_base_url=http_server.url("/v1"), llm_api_key="sk-live-1"))
    with contextlib.suppress(LLMError):  # the test server is no LLM: only what it was sent matters
        client.check()
    sent = [{name.lower(): value for name, value in headers.items()} for _, headers in http_server.requests]
    assert sent and all(headers["authorization"] == "Bearer sk-live-1" for headers in sent)
