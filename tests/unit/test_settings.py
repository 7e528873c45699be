from __future__ import annotations

import pytest

from checkups.settings import ChannelKind, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("CHECKUPS_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./var/checkups.db"
    assert settings.redis_url is None
    assert settings.channel is ChannelKind.console
    assert settings.is_sqlite


def test_values_come_from_the_environment_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKUPS_DATABASE_URL", "postgresql+psycopg://localhost/test")
    monkeypatch.setenv("CHECKUPS_REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = load_settings()
    assert settings.database_url.startswith("postgresql")
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_dotenv_file_is_read(tmp_path) -> None:
    (tmp_path / ".env").write_text("CHECKUPS_PROTOCOLS_DIR=/srv/protocols\n")
    assert str(load_settings().protocols_dir) == "/srv/protocols"


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKUPS_CHANNEL", "pigeon")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.problems[0].startswith("CHECKUPS_CHANNEL: ")


def test_unknown_database_scheme_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKUPS_DATABASE_URL", "mysql://localhost/x")
    with pytest.raises(SettingsError, match="CHECKUPS_DATABASE_URL: must be a sqlite:// or postgresql:// URL"):
        load_settings()


def test_twilio_channel_needs_its_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKUPS_CHANNEL", "twilio")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    for name in (
        "CHECKUPS_TWILIO_ACCOUNT_SID",
        "CHECKUPS_TWILIO_AUTH_TOKEN",
        "CHECKUPS_PUBLIC_BASE_URL",
        "CHECKUPS_TWILIO_FROM",
    ):
        assert name in message


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKUPS_SECRET_KEY", "s3cret-value-xyz")
    monkeypatch.setenv("CHECKUPS_TWILIO_AUTH_TOKEN", "tok-value-xyz")
    settings = load_settings()
    assert "s3cret-value-xyz" not in repr(settings)
    assert "tok-value-xyz" not in repr(settings)
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "s3cret-value-xyz"


def test_bad_account_sid_shape_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKUPS_TWILIO_ACCOUNT_SID", "not-a-sid")
    with pytest.raises(SettingsError, match="CHECKUPS_TWILIO_ACCOUNT_SID"):
        load_settings()
