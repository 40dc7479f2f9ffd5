"""The footer at 80×24: the way out is always on screen, and no key it lists does nothing."""

from __future__ import annotations

import pytest

from tests.tui.conftest import log_session, screen_text, settle

VIEWS = ("catalogue", "call", "events", "tx", "overview", "check")


def footer(app) -> str:
    return screen_text(app).splitlines()[-1]


def key_state(app, key: str) -> bool | None:
    """True enabled, False dimmed, None not offered (what the footer draws for ``key``)."""
    active = app.screen.active_bindings.get(key)
    return None if active is None else active.enabled


@pytest.mark.parametrize("view", VIEWS)
async def test_every_view_shows_help_back_and_quit_at_80_columns(make_app, view):
    app = make_app(start_view="catalogue")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.jump(view)
        await settle(pilot)
        if view == "call":
            await pilot.press("escape")  # out of the body editor, as the footer says
            await settle(pilot)
        line = footer(app)
        for shown in ("? keys", "esc back", "^q quit"):
            assert shown in line, line


async def test_in_the_body_editor_the_footer_says_how_to_get_out(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the composer, cursor in the body
        await settle(pilot)
        line = footer(app)
        assert "esc leave editor" in line and "^q quit" in line, line
        await pilot.press("question_mark")  # types into the body, as text should
        await settle(pilot)
        assert app.screen.query_one("#call-body").text.startswith("?")
        await pilot.press("escape")
        await settle(pilot)
        assert "esc back" in footer(app)
        await pilot.press("question_mark")  # now the shell's key again
        await settle(pilot)
        assert "keys · call" in screen_text(app)


async def test_the_open_filter_says_esc_clears_it(make_app):
    app = make_app(lang="vi")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        line = footer(app)
        assert "esc xóa bộ lọc" in line and "^q thoát" in line, line


async def test_back_is_dimmed_where_there_is_nowhere_to_go(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert key_state(app, "escape") is False
        app.jump("tx")
        await settle(pilot)
        assert key_state(app, "escape") is True


async def test_the_wide_footer_also_offers_the_palette(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "^p palette" in footer(app)


async def test_keys_with_nothing_to_act_on_are_dimmed(make_app, tmp_path):

    app = make_app(session=log_session(tmp_path / "empty.db"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.jump("call")
        await settle(pilot)
        assert key_state(app, "ctrl+o") is False  # no call yet: nothing to copy
        assert key_state(app, "ctrl+g") is False  # and no event to jump to
        assert key_state(app, "ctrl+t") is False  # nor a transaction
        assert key_state(app, "ctrl+s") is True
        app.jump("tx")
        await settle(pilot)
        for key in ("ctrl+r", "e", "ctrl+g"):  # an empty log: nothing to re-run or export
            assert key_state(app, key) is False, key
        app.jump("events")
        await settle(pilot)
        assert key_state(app, "ctrl+t") is False


async def test_space_is_labelled_resume_while_the_feed_is_paused(make_app):
    app = make_app(start_view="events")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "space pause" in footer(app)
        await pilot.press("space")
        await settle(pilot)
        assert "space resume" in footer(app), footer(app)
        await pilot.press("space")
        await settle(pilot)
        assert "space pause" in footer(app)


async def test_the_footer_lets_go_of_the_keys_it_no_longer_shows(make_app):
    """Every change of view or focus composes the footer again; the keys it showed before must
    go (Textual's data_bind kept each in the footer's watchers: 18 more live keys for every
    round of the four views here, for as long as the console ran)."""
    import gc
    import weakref

    from textual.widgets._footer import FooterKey

    app = make_app()
    shown: weakref.WeakSet[FooterKey] = weakref.WeakSet()
    alive: list[int] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for round_ in range(6):
            for view in ("events", "tx", "overview", "catalogue"):
                app.jump(view)
                await settle(pilot)
                if round_:  # after start-up, whose objects the console freezes (never collected)
                    shown.update(app.screen.query(FooterKey))
            gc.collect()
            alive.append(len(shown))
        assert "? keys" in footer(app)
    # What each view's footer shows, and what its last frame drew: no more after six rounds
    # than after two.
    assert alive[-1] <= alive[2], alive
