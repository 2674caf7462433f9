async def test_help_in_group(chat):
    replies = await chat.say("/help")
    assert len(replies) == 1
    assert "/登记 /signup" in replies[0]
