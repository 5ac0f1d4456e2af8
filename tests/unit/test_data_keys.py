"""The tenant data keyring: its SOPS string form, rotation, and that no message shows a key."""

from __future__ import annotations

import base64
import re

import pytest

from frostbyte_common.data_keys import KEY_BYTES, DataKeyring, UnknownDataKey

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def test_a_generated_ring_has_one_random_key_with_a_short_random_id() -> None:
    first, second = DataKeyring.generate(), DataKeyring.generate()
    assert re.fullmatch(r"[0-9a-f]{8}", first.current_id)
    assert first.ids == (first.current_id,)
    assert len(first.key(first.current_id)) == KEY_BYTES
    assert first.current_id != second.current_id
    assert first.key(first.current_id) != second.key(second.current_id)


def test_the_key_id_is_not_derived_from_the_key() -> None:
    ring = DataKeyring.generate()
    key = ring.key(ring.current_id)
    assert ring.current_id not in (key.hex(), b64(key))
    assert ring.current_id not in key.hex()


def test_text_form_round_trips_and_the_last_entry_is_current() -> None:
    text = f"old1:{b64(KEY_A)},new2:{b64(KEY_B)}"
    ring = DataKeyring.parse(text)
    assert ring.ids == ("old1", "new2")
    assert ring.current_id == "new2"
    assert ring.key("old1") == KEY_A
    assert ring.key("new2") == KEY_B
    assert ring.serialize() == text
    assert DataKeyring.parse(ring.serialize()).serialize() == text


def test_surrounding_whitespace_from_a_secrets_file_is_ignored() -> None:
    ring = DataKeyring.parse(f"  a:{b64(KEY_A)} , b:{b64(KEY_B)}\n")
    assert ring.ids == ("a", "b")


def test_rotation_appends_a_new_current_key_and_keeps_the_old_ones() -> None:
    ring = DataKeyring.generate()
    rotated = ring.rotated()
    assert rotated.ids[:-1] == ring.ids
    assert rotated.current_id not in ring.ids
    assert rotated.key(ring.current_id) == ring.key(ring.current_id)
    assert rotated.key(rotated.current_id) != ring.key(ring.current_id)
    assert ring.ids == (ring.current_id,)  # the original is untouched
    assert DataKeyring.parse(rotated.rotated().serialize()).ids[:2] == rotated.ids


def test_a_keyring_cannot_be_changed_in_place() -> None:
    ring = DataKeyring.generate()
    with pytest.raises(AttributeError):
        ring._entries = ()  # type: ignore[misc]


def test_a_missing_key_id_is_named() -> None:
    ring = DataKeyring.parse(f"a:{b64(KEY_A)}")
    with pytest.raises(UnknownDataKey) as caught:
        ring.key("gone1234")
    assert caught.value.kid == "gone1234"
    assert "'gone1234'" in str(caught.value)
    assert isinstance(caught.value, KeyError)
    assert caught.value.code == "DATA_KEY_UNKNOWN"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        (b64(KEY_A), "entry 1 is not of the form"),
        (f"a:{b64(KEY_A)},{b64(KEY_B)}", "entry 2 is not of the form"),
        (f"{b64(KEY_A)}:a", "entry 1: the key id must be"),
        (f":{b64(KEY_A)}", "entry 1: the key id must be"),
        (f"a:{b64(KEY_A)},a:{b64(KEY_B)}", "key id 'a' twice"),
        (f"a:{b64(KEY_A[:16])}", "'a' is 16 bytes; a data key is 32 bytes"),
        (f"a:{b64(KEY_A + b'x')}", "'a' is 33 bytes"),
        (f"a:{b64(KEY_A)[:-2]}", "(key id 'a') is not valid base64"),
        (f"a:{b64(KEY_A).replace('A', '*')}", "(key id 'a') is not valid base64"),
        (f"a:{b64(KEY_A)},", "entry 2 is not of the form"),
    ],
)
def test_malformed_text_is_refused_without_showing_key_material(text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)) as caught:
        DataKeyring.parse(text)
    message = str(caught.value)
    for key in (KEY_A, KEY_B, KEY_A[:16], KEY_A + b"x"):
        assert b64(key) not in message
        assert b64(key)[:12] not in message
        assert key.hex()[:16] not in message


def test_repr_and_str_show_ids_but_never_keys() -> None:
    ring = DataKeyring.parse(f"a:{b64(KEY_A)},b:{b64(KEY_B)}")
    for shown in (repr(ring), str(ring), f"{ring}"):
        assert "'a'" in shown
        assert "'b'" in shown
        for key in (KEY_A, KEY_B):
            assert b64(key)[:12] not in shown
            assert key.hex()[:16] not in shown
            assert repr(key)[:20] not in shown
