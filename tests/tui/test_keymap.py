"""Keys are remappable by action id from keys.toml, and a bad file is refused with its line."""

from __future__ import annotations

import pytest

from screens.keymap import ACTIONS, DEFAULT_KEYS, KeymapError, keys_path, load_keymap
from tests.tui.conftest import notices, settle


def test_every_action_has_a_default_key_and_a_kebab_case_id():
    assert set(ACTIONS) == set(DEFAULT_KEYS)
    assert all(action_id == action_id.lower() and " " not in action_id for action_id in ACTIONS)


def test_keys_file_lives_beside_the_config_and_is_optional(tmp_path):
    assert keys_path() == tmp_path / "config" / "apilog" / "keys.toml"
    assert load_keymap(keys_path()) == {}


def test_unknown_action_is_refused_with_its_line(tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text('send = "f5"\n\ncopy_curl = "ctrl+y"\n')
    with pytest.raises(KeymapError, match=r"keys.toml:3: unknown action 'copy_curl'.*copy-curl"):
        load_keymap(path)


def test_a_key_must_be_a_string(tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text("send = 5\n")
    with pytest.raises(KeymapError, match=r"keys.toml:1: send needs a key string"):
        load_keymap(path)


def test_broken_toml_names_the_file(tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text("send = \n")
    with pytest.raises(KeymapError, match="keys.toml"):
        load_keymap(path)


async def test_a_remapped_action_answers_to_its_new_key_only(make_app, tmp_path):
    path = tmp_path / "keys.toml"
    path.write_text('send = "f5"\n')
    app = make_app(keymap=load_keymap(path), start_view="call")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "not connected" not in notices(app)
        await pilot.press("f5")
        await settle(pilot)
        assert "not connected" in notices(app)  # offline: the send action ran and said so


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LANG": "vi_VN.UTF-8"}, "vi"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "vi_VN.UTF-8", "LANG": "en_US.UTF-8"}, "vi"),
        ({"LANG": "C.UTF-8"}, "en"),
    ],
)
def test_language_defaults_from_the_locale(monkeypatch, env, expected):
    from screens.i18n import default_language

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert default_language() == expected
