"""Messages of the logic package: English by default, translated by whoever shows them."""

from __future__ import annotations

import pytest

from embedlab.messages import N_, LocalizedError, Message

ZH = {"{n} texts refused by {server}": "{server} 拒绝了 {n} 段文本", "the server": "服务器"}


def test_a_message_is_english_until_translated():
    message = Message(N_("{n} texts refused by {server}"), {"n": 3, "server": "vLLM"})
    assert str(message) == "3 texts refused by vLLM"
    assert message.translate(lambda s: ZH.get(s, s)) == "vLLM 拒绝了 3 段文本"


def test_parameters_that_are_messages_are_translated_too():
    message = Message("{n} texts refused by {server}", {"n": 1, "server": Message("the server")})
    assert message.translate(lambda s: ZH.get(s, s)) == "服务器 拒绝了 1 段文本"


def test_a_localized_error_reads_in_english_and_keeps_its_message():
    with pytest.raises(LocalizedError, match="2 texts refused by x") as info:
        raise LocalizedError("{n} texts refused by {server}", n=2, server="x")
    assert info.value.message.translate(lambda s: ZH.get(s, s)) == "x 拒绝了 2 段文本"


def test_literal_braces_survive_when_there_are_no_parameters():
    assert str(Message("Instruct: {task}")) == "Instruct: {task}"
