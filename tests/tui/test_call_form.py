"""The call form keeps only what belongs to the operation on screen."""

from __future__ import annotations

from tests.tui.conftest import log_session, screen_text, settle
from tests.tui.sample import fill_log


async def test_opening_another_operation_clears_the_previous_response(make_app, tmp_path, catalogue):

    log = tmp_path / "transactions.db"
    first = fill_log(log)[0]
    app = make_app(session=log_session(log))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sent = app.session.txlog.get(first)
        op = catalogue.operation(sent.path, sent.method, sent.action)
        app.open_call(op)
        await settle(pilot)
        call = app.screen
        call.result = sent
        call._show_result()
        await settle(pilot)
        app.open_call(op)  # the same operation again: its response stays
        await settle(pilot)
        assert "201 Created" in screen_text(app)
        other = next(o for o in catalogue.operations if o.key != op.key)
        app.jump("catalogue")
        app.open_call(other)
        await settle(pilot)
        text = screen_text(app)
        assert "201 Created" not in text and "nothing yet" in text, text
        assert call.result is None



async def test_the_vietnamese_question_names_the_key_that_answers_it(make_app):
    from screens.widgets.prompts import Confirm

    app = make_app(lang="vi")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        answers: list[bool] = []
        app.push_screen(Confirm("gửi DELETE /ivr/callflow?"), answers.append)
        await settle(pilot)
        text = screen_text(app)
        assert "[y] có / [n, esc] không" in text, text
        await pilot.press("y")
        await settle(pilot)
        assert answers == [True]
