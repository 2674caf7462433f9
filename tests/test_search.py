"""The knowledge base as members see it: /搜索 ranks questions, answers and the kept chat of their own groups; a
question asked shows similar past ones above a floor; hidden content and other groups' chat never appear."""
from datetime import timedelta

from sqlalchemy import func, select, text

from models import SearchPosting
from models.db import downgrade, upgrade
from scheduler.retention import prune
from tests.conftest import Chat, make_config, to

HINT = "发送 /问题 Q编号 查看问题和全部回答。"


# Q1 (张三) with A1 (李四, best) and A2 (王五); Q2 (李四) about something else; chat in r1.
COMMUNITY = (("/提问 私域流量怎么做\n我们是做教育的", "u1"), ("/回答 Q1 先把私域社群的活跃度做起来，再谈转化", "u2"),
             ("/回答 Q1 看预算", "u3"), ("/最佳 Q1 A1", "u1"), ("/提问 招聘数据分析师要看什么\n第一次招", "u2"),
             ("私域流量最近效果不太好，成本越来越高", "u3"), ("今天天气不错", "u1"))


async def _community(chat) -> None:
    for said, user in COMMUNITY:
        await chat.say(said, user)


async def test_search_lists_questions_answers_and_chat_best_first_with_ids_authors_and_dates(chat):
    await _community(chat)
    assert await chat.say("/搜索 私域流量", "u2") == [
        "和「私域流量」最相关的内容：\n"
        "1. Q1「私域流量怎么做」— 张三 · 2026.11.23\n"
        "\u3000⭐最佳回答 A1（李四）：先把私域社群的活跃度做起来，再谈转化\n"
        "2. 聊天 · r1 · 王五 · 2026.11.23：私域流量最近效果不太好，成本越来越高\n"
        "3. A1 回答 Q1「私域流量怎么做」：先把私域社群的活跃度做起来，再谈转化 — 李四 · 2026.11.23\n" + HINT]
    # English twin, in private: the same groups (the member's own), the same ranking.
    replies = await chat.dm("/search 招聘 数据分析", "u1")
    assert replies[0].startswith("和「招聘 数据分析」最相关的内容：\n1. Q2「招聘数据分析师要看什么」— 李四 · 2026.11.23")


async def test_questions_only(chat):
    await _community(chat)
    assert await chat.say("/搜索 问题 私域", "u2") == [
        "和「私域」最相关的问题：\n"
        "1. Q1「私域流量怎么做」— 张三 · 2026.11.23\n"
        "\u3000⭐最佳回答 A1（李四）：先把私域社群的活跃度做起来，再谈转化\n" + HINT]
    assert await chat.say("/search questions 天气", "u2") == [
        to("u2", "没有找到和「天气」相关的问题。去掉「问题」可以连回答和聊天记录一起搜。")]
    # "问题" alone is a search for the word (a stop word), not an empty filter.
    assert await chat.say("/搜索 问题", "u2") == [to("u2", "「问题」里没有可以搜索的词（语气词、表情、打招呼的话不算），"
                                                       "换几个具体的词试试，例如 /搜索 私域 流量。")]


async def test_hidden_questions_and_answers_never_appear(chat):
    await _community(chat)
    await chat.say("/隐藏 A1", "u_owner")
    found = (await chat.say("/搜索 私域", "u2"))[0]
    assert "A1" not in found and "Q1「私域流量怎么做」" in found and "先把私域" not in found
    await chat.say("/隐藏 Q1", "u_owner")
    await chat.say("/取消隐藏 A1", "u_owner")
    found = (await chat.say("/搜索 私域", "u_owner"))[0]      # a moderator too: hidden is hidden here
    assert "Q1" not in found and "A1" not in found and "聊天 · r1 · 王五" in found
    await chat.say("/取消隐藏 Q1", "u_owner")
    assert "1. Q1「私域流量怎么做」" in (await chat.say("/搜索 私域", "u2"))[0]


async def test_hidden_questions_at_the_top_leave_no_gap_in_a_full_list(chat):
    # Twenty questions that match alike (the newest first); the six newest hidden: the list still shows eight,
    # the next ones down, and says there is more.
    for n in range(1, 21):
        await chat.say(f"/提问 私域流量案例{n:02d}", f"u{1 + n % 3}")
    for n in range(15, 21):
        await chat.say(f"/隐藏 Q{n}", "u_owner")
    [found] = await chat.say("/搜索 问题 私域流量", "u2")
    lines = found.split("\n")
    listed = [line.split("「")[0].split(". ")[1] for line in lines if line[:1].isdigit()]
    assert listed == [f"Q{n}" for n in range(14, 6, -1)]
    assert lines[-2] == "……还有更多结果，多加一个词可以缩小范围。"
    # With all but two of them hidden, the two are all there is.
    for n in range(3, 15):
        await chat.say(f"/隐藏 Q{n}", "u_owner")
    [found] = await chat.say("/搜索 问题 私域流量", "u2")
    assert [line[:5] for line in found.split("\n") if line[:1].isdigit()] == ["1. Q2", "2. Q1"]
    assert "还有更多" not in found


async def test_only_the_kept_chat_of_one_s_own_groups_is_searched(db_url):
    chat = Chat(make_config(groups=[{"room": "r1"}, {"room": "r2"}]), db_url)
    await chat.start()
    try:
        await chat.members("r2", ["u_owner", "u4"])
        await chat.say("短视频投放的素材怎么做", "u4", room="r2")
        await chat.say("短视频投放我们停了", "u1")
        assert "r2" not in (await chat.say("/搜索 短视频投放", "u1"))[0]
        found = (await chat.say("/搜索 短视频投放", "u_owner"))[0]
        assert "聊天 · r2 · 赵六" in found and "聊天 · r1 · 张三" in found
        await chat.say("/记录 关", "u_owner", room="r2")       # a group whose history is off: its chat is not searched
        found = (await chat.say("/搜索 短视频投放", "u_owner"))[0]
        assert "r2" not in found and "聊天 · r1 · 张三" in found
    finally:
        await chat.close()


async def test_a_search_of_only_stop_words_or_emoji_says_so(chat):
    await _community(chat)
    for query in ("大家好 [强]", "/::) 🙂", "请问 怎么做"):
        [reply] = await chat.say(f"/搜索 {query}", "u2")
        assert "里没有可以搜索的词" in reply
    assert await chat.say("/搜索", "u2") == [
        to("u2", "用法：/搜索 关键词（例如 /搜索 私域 流量）；只搜问题：/搜索 问题 关键词")]
    assert await chat.say("/搜索 区块链", "u2") == [to("u2", "没有找到和「区块链」相关的问题、回答或聊天记录。换个说法试试。")]


async def test_asking_shows_similar_past_questions_with_best_answers_above_a_floor(chat):
    await _community(chat)
    created = "已登记问题 Q3「私域流量到底怎么做」，排在 11.25（周三）20:00 的问答。大家可以提前 /回答 Q3。"
    assert await chat.say("/提问 私域流量到底怎么做\n背景", "u3") == [
        created + "\n以前有人问过类似的问题，可以先看看：\n"
        "• Q1「私域流量怎么做」— 张三 · 2026.11.23\n"
        "\u3000⭐最佳回答 A1（李四）：先把私域社群的活跃度做起来，再谈转化"]
    # A greeting, a vague title and one shared word out of several match nothing; the question is still created.
    for n, title in ((4, "大家好"), (5, "有个问题想问下大家"), (6, "私域的合规风险和法务审核")):
        [reply] = await chat.say(f"/提问 {title}\n背景", "u3")
        assert reply.startswith(f"已登记问题 Q{n}「{title}」") and "类似" not in reply


async def test_edits_are_searched_by_their_new_words_and_deleted_data_goes(chat):
    await _community(chat)
    await chat.say("/修改 A2 预算不多就先做内容营销", "u3")
    assert "1. A2 回答 Q1「私域流量怎么做」：预算不多就先做内容营销 — 王五" in (await chat.say("/搜索 内容营销", "u1"))[0]
    await chat.say("/资料 删除 确认", "u3")
    found = (await chat.say("/搜索 私域流量", "u1"))[0]
    assert "聊天" not in found                                  # their chat went with their data
    assert "A2" in (await chat.say("/搜索 内容营销", "u1"))[0]   # their answer stays, under their pseudonym
    assert "已注销成员#" in (await chat.say("/搜索 内容营销", "u1"))[0]


async def postings(chat) -> int:
    async with chat.app.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(SearchPosting)) or 0)


async def test_old_chat_leaves_the_index_with_retention(chat):
    await chat.say("私域流量半年前的话", "u1", id="old")
    before = await postings(chat)
    await chat.say("短视频最近的话", "u1", id="new", step=timedelta(days=100))
    await prune(chat.app.sessions, chat.config.retention, chat.clock.now() + timedelta(days=90))
    assert 0 < await postings(chat) < before + 2
    assert "没有找到" in (await chat.say("/搜索 私域流量", "u1"))[0]
    assert "短视频最近的话" in (await chat.say("/搜索 短视频", "u1"))[0]


async def test_the_upgrade_indexes_what_was_stored_before_and_the_revision_goes_down(chat):
    await _community(chat)
    expected = await chat.say("/搜索 私域流量", "u2")
    await downgrade(chat.app.engine, "0006")
    async with chat.app.sessions() as db:
        tables = await db.execute(text("SELECT count(*) FROM questions"))
        assert tables.scalar() == 2
    await upgrade(chat.app.engine)
    chat.app.history._scopes.clear()            # the rooms' scopes were made again by the upgrade
    assert await chat.say("/搜索 私域流量", "u2") == expected
    await chat.say("私域流量之后的话", "u1")
    assert "私域流量之后的话" in (await chat.say("/搜索 私域流量", "u2"))[0]


async def test_published_digests_are_searched_and_shown_beside_similar_questions(make_chat):
    """A published digest's discussion topics are documents of the knowledge base, shown as they read now."""
    from tests.test_digest import WED, a_week

    chat = await make_chat(moderators=["u3"])
    await a_week(chat)
    await chat.say("/周报", "u3", at=WED)
    assert (await chat.say("/搜索 社群 留存", "u1"))[0].split("\n")[:2] == [
        "和「社群 留存」最相关的内容：", "1. 聊天 · r1 · 李四 · 2026.11.24：我们做过一个社群留存的案例，效果不错"]   # a draft is not
    await chat.say("/周报 发布", "u3")
    topic = "第 1 期周报 · 2026.11.26：💬 讨论：留存、社群、运营（5 条，张三、李四、王五）（/周报 第1期）"
    assert (await chat.say("/搜索 社群 留存", "u1"))[0].split("\n")[:2] == ["和「社群 留存」最相关的内容：", "1. " + topic]
    assert "周报" not in (await chat.say("/搜索 问题 社群 留存", "u1"))[0]
    [asked] = await chat.say("/提问 社群留存\n我们的群很冷清", "u4")
    assert asked.split("\n")[1:] == ["往期周报聊过相关的内容，可以先看看：", "• " + topic]
    # Asked again: now a past question matches too, and the heading names both.
    again = (await chat.say("/提问 社群留存怎么做", "u2"))[0]
    assert again.split("\n")[1] == "以前有人问过类似的问题，往期周报也聊过，可以先看看：", again
    assert "• 第 1 期周报" in again and "「社群留存」— " in again
