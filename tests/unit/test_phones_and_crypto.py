from __future__ import annotations

import pytest

from checkups.crypto import EncryptionKeyError, Vault, embedded_key, generate_key
from checkups.phones import InvalidPhoneNumber, is_reserved_for_testing, masked, normalise


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+447700900123", "+447700900123"),
        ("07700 900123", "+447700900123"),
        ("+44 (0)7700 900123", "+447700900123"),
        ("  +44-7700-900-123 ", "+447700900123"),
        ("+1 212 555 0142", "+12125550142"),
        ("+1 500 555 0006", "+15005550006"),
    ],
)
def test_numbers_are_normalised_to_e164(text: str, expected: str) -> None:
    assert normalise(text, "GB") == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "required"),
        ("hello", "not a phone number"),
        ("12", "not a valid phone number"),
        ("+999 1234 5678", "country code"),
        ("+44 20 7946 09", "not a valid"),
        ("1" * 50, "too long"),
    ],
)
def test_bad_numbers_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=reason):
        normalise(text, "GB")


def test_reserved_test_ranges_are_recognised() -> None:
    assert is_reserved_for_testing("+447700900000")
    assert is_reserved_for_testing("+12125550199")
    assert not is_reserved_for_testing("tel:+447700900123")  # anchored: the whole string, nothing around it
    assert not is_reserved_for_testing("+447700900123x")


def test_masked_shows_only_the_last_digits() -> None:
    assert masked("+447700900123").endswith("123")
    assert "7700" not in masked("+447700900123")


def test_vault_round_trips_and_hides_the_plaintext() -> None:
    vault = Vault(generate_key())
    token = vault.encrypt("+447700900123")
    assert b"900123" not in token
    assert vault.decrypt(token) == "+447700900123"
    assert vault.encrypt("x") != vault.encrypt("x")  # randomised: equal values do not look equal


def test_lookup_hash_is_keyed_and_stable() -> None:
    key = generate_key()
    assert Vault(key).lookup_hash("+447700900123") == Vault(key).lookup_hash("+447700900123")
    assert Vault(key).lookup_hash("+447700900123") != Vault(generate_key()).lookup_hash("+447700900123")


def test_key_rotation_keeps_old_data_readable() -> None:
    old, new = generate_key(), generate_key()
    token = Vault(old).encrypt("hello")
    assert Vault(f"{new},{old}").decrypt(token) == "hello"
    with pytest.raises(EncryptionKeyError, match="not configured"):
        Vault(new).decrypt(token)


def test_bad_key_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(EncryptionKeyError, match=r"Fernet\.generate_key"):
        Vault("not-a-key")
    with pytest.raises(EncryptionKeyError):
        Vault(" , ")


def test_embedded_key_is_made_once_and_private(tmp_path) -> None:
    first = embedded_key(tmp_path)
    assert embedded_key(tmp_path) == first
    assert (tmp_path / "encryption.key").stat().st_mode & 0o777 == 0o600
