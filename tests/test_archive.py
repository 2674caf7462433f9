"""The talent archive: a member's best answers, picked answers, answers in sessions and points received, and who
may read it."""
from tests.conftest import to


async def a_record(chat) -> None:
    """李四 (u2) answers two questions; one answer is chosen best and tipped."""
    await chat.say("/提问 怎么做用户增长\n教育产品", "u1")
    await chat.say("/回答 Q1 先做留存再做增长", "u2")
    await chat.say("/最佳 Q1 A1", "u1")
    await chat.say("/提问 私域怎么起步", "u3")
    await chat.say("/回答 Q2 先建群再做内容", "u2")
    await chat.say("/打赏 A1 7 讲得透彻", "u3")


RECORD = ("李四 的人才档案（{}）\n最佳回答 1 个：\n  • A1（Q1 怎么做用户增长）\n入选周报的回答 0 个：\n"
          "答疑发言：2 个回答，涉及 2 个问题\n收到的积分：7 分")


async def test_a_member_reads_their_own_archive_in_private(chat):
    await a_record(chat)
    assert await chat.dm("/档案", "u2") == [RECORD.format("仅本人和群主可见")]


async def test_a_hidden_archive_is_not_read_out_in_the_group_nor_shown_to_others(chat):
    await a_record(chat)
    assert await chat.say("/档案", "u2") == [
        to("u2", "这份档案没有公开，不在群里展示。请私聊我发送 /档案 查看；想让大家看到，发送 /档案 公开。")]
    assert await chat.say("/档案 @李四", "u3", mentions=["u2"]) == [to("u3", "李四 没有公开档案。")]
    assert await chat.dm("/archive @李四", "u3") == ["李四 没有公开档案。"]
    # Owners read every archive, in private.
    assert await chat.dm("/档案 @李四", "u_owner") == [RECORD.format("仅本人和群主可见")]


async def test_a_public_archive_is_read_by_everyone_until_hidden_again(chat):
    await a_record(chat)
    assert await chat.say("/档案 公开", "u2") == [to("u2", "已公开：其他成员可以用 /档案 @你 查看你的档案。")]
    assert await chat.say("/档案 @李四", "u3", mentions=["u2"]) == [RECORD.format("公开")]
    assert await chat.say("/archive hide", "u2") == [to("u2", "已隐藏：只有你自己和群主能看你的档案。")]
    assert await chat.say("/档案 @李四", "u3", mentions=["u2"]) == [to("u3", "李四 没有公开档案。")]


async def test_hidden_answers_do_not_count_and_an_empty_archive_says_so(make_chat):
    chat = await make_chat(moderators=["u_owner"])
    await a_record(chat)
    await chat.say("/隐藏 A2", "u_owner")
    [shown] = await chat.dm("/档案", "u2")
    assert "答疑发言：1 个回答，涉及 1 个问题" in shown
    assert await chat.dm("/档案", "u1") == ["张三 的人才档案（仅本人和群主可见）\n还没有记录：回答问题、被选为最佳回答或入选周报后，这里会记下来。"]
    assert await chat.dm("/档案 乱写", "u1") == [
        "用法：/档案 看自己的；/档案 @成员 看别人的；/档案 公开 或 /档案 隐藏 设置谁能看"]


async def test_guest_talks_given_are_in_the_archive_once_they_have_started(make_chat):
    from tests.conftest import sh

    chat = await make_chat(moderators=["u3"])
    await chat.say("/分享会 私域增长实战 | 11.26 20:00 | @李四", "u3", at=sh("2026-11-24T10:00:00"))
    await chat.say("/分享会 社群冷启动 | 11.28 20:00 | 张三", "u3")
    assert "分享会" not in (await chat.dm("/档案", "u2", at=sh("2026-11-25T10:00:00")))[0]  # not given yet
    await chat.tick(sh("2026-11-27T10:00:00"))
    [record] = await chat.dm("/档案", "u2")
    assert "\n做过的分享会 1 场：\n  • #1「私域增长实战」2026.11.26\n" in record
