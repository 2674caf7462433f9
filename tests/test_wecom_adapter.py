"""The WeCom long-connection adapter against a local server speaking WeCom's documented frames (tests/wecom_fake.py):
subscription, messages in and replies out, pushes, heartbeats, drops, a refused secret, a takeover; and the whole
app in a WeCom group, from signup to the weekly ranking pushed on Monday."""
import asyncio
import logging
from datetime import datetime, timedelta

import pytest

from bot.adapters.base import AdapterStopped, ChatRef, IncomingMessage, NotConnected, Outgoing, SendError, Unconfirmed
from bot.adapters.wecom import WecomAdapter, message_from_body
from bot.app import App
from bot.clock import FakeClock
from bot.config import parse_config
from tests.conftest import START
from tests.wecom_fake import FakeWecom

ROOM = "wrkSFfCgAAxxxx"


@pytest.fixture
async def fake():
    server = FakeWecom()
    server.url = await server.start()
    yield server
    await server.stop()


class Inbox:
    """The adapter's events, awaitable one at a time."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[IncomingMessage] = asyncio.Queue()

    async def __call__(self, event) -> None:
        await self.queue.put(event)

    async def next(self) -> IncomingMessage:
        return await asyncio.wait_for(self.queue.get(), 10)


async def connected(fake: FakeWecom, **kw) -> tuple[WecomAdapter, Inbox, asyncio.Task]:
    adapter = WecomAdapter(fake.bot_id, fake.secret, url=fake.url, **kw)
    inbox = Inbox()
    task = asyncio.create_task(adapter.run(inbox))
    await fake.wait_connections(1)
    await asyncio.wait_for(adapter._connected.wait(), 10)
    return adapter, inbox, task


async def stopped(adapter: WecomAdapter, task: asyncio.Task) -> None:
    await adapter.close()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 10)


# ---- messages in ---------------------------------------------------------------------------------------------

async def test_a_group_message_arrives_without_the_bot_mention_and_with_its_req_id(fake):
    adapter, inbox, task = await connected(fake)
    req_id = await fake.say("zhangsan", "@qunbot /找人 增长", chat=ROOM, msgid="msg-1")
    event = await inbox.next()
    assert (event.event_id, event.room_id, event.sender_id, event.text, event.reply_token) == (
        "wecom:msg-1", ROOM, "zhangsan", "/找人 增长", req_id)
    await fake.say("lisi", "/帮助")                       # private: no mention to strip, no room
    event = await inbox.next()
    assert (event.room_id, event.sender_id, event.text) == (None, "lisi", "/帮助")
    await stopped(adapter, task)


async def test_malformed_frames_and_unknown_kinds_are_skipped_and_the_adapter_goes_on(fake, caplog):
    adapter, inbox, task = await connected(fake)
    await fake.send_raw("{not json")
    await fake.send_raw({"cmd": "aibot_something_new", "headers": {"req_id": "x"}, "body": {}})
    await fake.send_raw({"cmd": "aibot_msg_callback", "headers": {"req_id": "y"}, "body": {"msgid": "m"}})
    await fake.say("zhangsan", "", chat=ROOM, msgtype="stream")
    await fake.say("zhangsan", "@qunbot /积分", chat=ROOM, msgid="ok")
    assert (await inbox.next()).event_id == "wecom:ok"
    assert "not JSON" in caplog.text
    await stopped(adapter, task)


def test_message_bodies_that_are_not_messages_give_nothing():
    now = START
    assert message_from_body(None, None, now) is None
    assert message_from_body({"msgid": "1", "msgtype": "text"}, None, now) is None               # no sender
    assert message_from_body({"msgid": "1", "from": {"userid": "u"}, "msgtype": "text", "chattype": "group",
                              "text": {"content": "hi"}}, None, now) is None                     # group, no chatid
    voice = message_from_body({"msgid": "2", "from": {"userid": "u"}, "msgtype": "voice", "chattype": "single",
                               "voice": {"content": "签到"}}, None, now)
    assert voice is not None and voice.text == "签到"          # WeCom's transcript of a voice message


# ---- messages out --------------------------------------------------------------------------------------------

async def test_a_reply_answers_the_message_and_a_post_is_pushed(fake):
    adapter, inbox, task = await connected(fake)
    req_id = await fake.say("zhangsan", "@qunbot /积分", chat=ROOM)
    event = await inbox.next()
    await adapter.send(Outgoing(ChatRef(room_id=ROOM), "本周还能打赏 100/100 分",
                                reply_to={"event_id": event.event_id, "token": event.reply_token}))
    await adapter.send(Outgoing(ChatRef(room_id=ROOM), "第二部分", reply_to={"event_id": event.event_id,
                                                                        "token": event.reply_token}))
    await adapter.send(Outgoing(ChatRef(room_id=ROOM), "🏆 上周分享排行"))
    assert fake.replies_to(req_id) == ["本周还能打赏 100/100 分"]          # one stream per message ...
    assert fake.pushes(ROOM) == ["第二部分", "🏆 上周分享排行"]            # ... later parts are pushed
    reply = next(f for f in fake.frames if f.cmd == "aibot_respond_msg")
    assert reply.body["msgtype"] == "stream" and reply.body["stream"]["finish"] is True
    await stopped(adapter, task)


async def test_a_push_to_a_chat_that_never_talked_to_the_bot_fails_for_good_with_a_clear_reason(fake):
    adapter, inbox, task = await connected(fake)
    with pytest.raises(SendError) as refused:
        await adapter.send(Outgoing(ChatRef(room_id="wrkNeverSpoke"), "周报"))
    assert not refused.value.transient and "nobody there has written to the bot yet" in str(refused.value)
    with pytest.raises(SendError) as removal:
        await adapter.send(Outgoing(ChatRef(room_id=ROOM), "广告", kind="remove", target="u9"))
    assert not removal.value.transient
    await stopped(adapter, task)


async def test_sending_while_disconnected_waits_without_using_up_retries(fake):
    adapter = WecomAdapter(fake.bot_id, fake.secret, url=fake.url, ack_timeout=0.05)
    with pytest.raises(NotConnected):
        await adapter.send(Outgoing(ChatRef(room_id=ROOM), "hi"))


async def test_a_message_wecom_never_confirms_is_not_sent_again(fake):
    """It may have arrived: a retry, or a push in its place, could show it twice."""
    adapter, inbox, task = await connected(fake, ack_timeout=0.2)
    req_id = await fake.say("zhangsan", "@qunbot /积分", chat=ROOM)
    event = await inbox.next()
    fake.ack_sends = False
    with pytest.raises(Unconfirmed) as unconfirmed:
        await adapter.send(Outgoing(ChatRef(room_id=ROOM), "本周还能打赏 100/100 分",
                                    reply_to={"event_id": event.event_id, "token": event.reply_token}))
    assert not unconfirmed.value.transient
    assert fake.replies_to(req_id) == ["本周还能打赏 100/100 分"] and fake.pushes(ROOM) == []
    await stopped(adapter, task)


async def test_a_reply_refused_as_too_late_is_pushed_instead(fake):
    adapter, inbox, task = await connected(fake)
    req_id = await fake.say("zhangsan", "@qunbot /积分", chat=ROOM)
    event = await inbox.next()
    fake.replies_expired = True
    await adapter.send(Outgoing(ChatRef(room_id=ROOM), "迟到的回复",
                                reply_to={"event_id": event.event_id, "token": event.reply_token}))
    assert fake.replies_to(req_id) == [] and fake.pushes(ROOM) == ["迟到的回复"]
    await stopped(adapter, task)


async def test_acknowledgements_are_read_while_a_message_is_being_handled(fake):
    """A slow transaction must not make the bot's own sends look unconfirmed."""
    release = asyncio.Event()

    async def slow(event) -> None:
        await release.wait()

    adapter = WecomAdapter(fake.bot_id, fake.secret, url=fake.url, ack_timeout=1)
    task = asyncio.create_task(adapter.run(slow))
    await asyncio.wait_for(adapter._connected.wait(), 10)
    await fake.say("zhangsan", "@qunbot /积分", chat=ROOM)
    await adapter.send(Outgoing(ChatRef(room_id=ROOM), "周报"))          # acknowledged: no Unconfirmed
    assert fake.pushes(ROOM) == ["周报"]
    release.set()
    await stopped(adapter, task)


# ---- the connection ------------------------------------------------------------------------------------------

async def test_a_wrong_secret_stops_with_a_clear_error(fake):
    adapter = WecomAdapter(fake.bot_id, "wrong", url=fake.url)
    with pytest.raises(AdapterStopped) as stopped_with:
        await asyncio.wait_for(adapter.run(Inbox()), 10)
    assert "refused the subscription" in str(stopped_with.value)
    assert "adapter.wecom.secret" in str(stopped_with.value)


def test_missing_credentials_name_the_settings():
    with pytest.raises(AdapterStopped) as missing:
        WecomAdapter(None, None)
    assert "adapter.wecom.bot_id" in str(missing.value) and "WECOM_BOT_SECRET" in str(missing.value)


async def test_a_refusal_after_the_secret_worked_is_retried_not_fatal(fake):
    adapter, inbox, task = await connected(fake)
    await stopped(adapter, task)
    fake.secret = "rotated-meanwhile"            # or the server having a bad moment
    with pytest.raises(ConnectionError, match="refused the subscription"):
        await asyncio.wait_for(adapter.run(Inbox()), 10)


async def test_a_lost_subscription_is_noticed_by_the_heartbeat_and_made_again(fake):
    adapter, inbox, task = await connected(fake, heartbeat_seconds=0.05)
    fake.subscribed_forgotten = True
    with pytest.raises(ConnectionError, match="dropped the subscription"):
        await asyncio.wait_for(task, 10)


async def test_the_server_closing_the_socket_ends_the_run_with_an_error(fake):
    adapter, inbox, task = await connected(fake)
    await fake.drop()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(task, 10)


async def test_unanswered_heartbeats_drop_the_link(fake):
    fake.answer_pings = False
    adapter, inbox, task = await connected(fake, heartbeat_seconds=0.05, ack_timeout=0.05)
    with pytest.raises(ConnectionError, match="heartbeats"):
        await asyncio.wait_for(task, 10)
    assert sum(1 for f in fake.frames if f.cmd == "ping") == 0       # pings are acknowledged, not recorded


async def test_another_connection_taking_over_stops_this_one(fake):
    adapter, inbox, task = await connected(fake)
    await fake.take_over()
    with pytest.raises(AdapterStopped, match="took over"):
        await asyncio.wait_for(task, 10)


# ---- the whole app in a WeCom group ----------------------------------------------------------------------------

class WecomChat:
    """The real App with the WeCom adapter against the fake server, on a fake clock."""

    def __init__(self, fake: FakeWecom, db_url: str) -> None:
        self.fake = fake
        self.clock = FakeClock(START)
        config = parse_config({"communities": [{"id": "growth", "name": "增长学习社", "owners": ["laowang"],
                                                "groups": [{"room": ROOM, "size": 40}]}]}, env={})
        self.adapter = WecomAdapter(fake.bot_id, fake.secret, url=fake.url, clock=self.clock.now)
        self.app = App(config, self.adapter, self.clock, database_url=db_url)
        self.handled: asyncio.Queue[str] = asyncio.Queue()

    async def start(self) -> None:
        await self.app.start()

        async def on_event(event) -> None:
            await self.app.handle(event)
            await self.handled.put(event.event_id)

        self.task = asyncio.create_task(self.adapter.run(on_event))
        await self.fake.wait_connections(1)
        await asyncio.wait_for(self.adapter._connected.wait(), 10)

    async def flush(self) -> None:
        """Send what is waiting (pacing moves the clock a little), as the running bot's loop does."""
        for _ in range(200):
            due = await self.app.next_due()
            if due is None or due > self.clock.now() + timedelta(minutes=2):
                return
            self.clock.set(max(due, self.clock.now()))
            await self.app.run_due(self.clock.now())

    async def say(self, user: str, text: str, *, msgid: str | None = None, step: int = 10) -> list[str]:
        """A member @-mentions the bot in the group; the texts the bot answered with."""
        self.clock.advance(seconds=step)
        req_id = await self.fake.say(user, text, chat=ROOM, msgid=msgid)
        await asyncio.wait_for(self.handled.get(), 10)
        await self.flush()
        return self.fake.replies_to(req_id) + [f for f in self._new_pushes()]

    def _new_pushes(self) -> list[str]:
        pushes = self.fake.pushes(ROOM)
        new, self._seen = pushes[getattr(self, "_seen", 0):], len(pushes)
        return new

    async def tick(self, to: datetime) -> list[str]:
        while True:
            due = await self.app.next_due()
            if due is None or due > to:
                break
            self.clock.set(max(due, self.clock.now()))
            await self.app.run_due(self.clock.now())
        self.clock.set(to)
        await self.flush()
        return self._new_pushes()

    async def close(self) -> None:
        await self.adapter.close()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.app.close()


@pytest.fixture
async def wecom_chat(fake, db_url):
    chat = WecomChat(fake, db_url)
    await chat.start()
    yield chat
    await chat.close()


async def test_a_week_in_a_wecom_group(wecom_chat):
    chat = wecom_chat
    await chat.say("zhangsan", "@qunbot /登记 城市=北京; 职位=产品经理; 擅长=增长,文案")
    assert (await chat.say("zhangsan", "@qunbot /同意"))[0].startswith("@zhangsan 登记完成，欢迎！")
    [found] = await chat.say("lisi", "@qunbot /找人 增长")
    assert found.startswith("找到 1 位和「增长」相关的成员") and "zhangsan（产品经理 · 北京）" in found
    [asked] = await chat.say("lisi", "@qunbot /提问 冷启动怎么找种子用户\n没有预算，想找前 100 个用户")
    assert asked.startswith("已登记问题 Q1「冷启动怎么找种子用户」")
    await chat.say("zhangsan", "@qunbot /回答 Q1 先从身边的目标用户聊起")
    assert await chat.say("lisi", "@qunbot /打赏 A1 20 很实用") == [
        "lisi 打赏了 @zhangsan 20 分（A1）：很实用（本周剩余 80 分）"]
    [helped] = await chat.say("lisi", "@qunbot /帮助")
    assert "命令请写成「@机器人 /排行」" in helped and "没有入群欢迎" in helped
    posts = await chat.tick(datetime.fromisoformat("2026-11-30T09:00:30+08:00"))
    ranking = [p for p in posts if p.startswith("🏆 上周分享排行（11.23–11.29）")]
    assert len(ranking) == 1 and "1. zhangsan 30 分（打赏 20 · 最佳 0 · 帮助 1 人）" in ranking[0]


async def test_a_typed_name_finds_the_member_by_the_real_name_of_their_profile(wecom_chat):
    """WeCom shows members their colleagues' real names and gives the bot only ids."""
    chat = wecom_chat
    await chat.say("zhangsan", "@qunbot /登记 姓名=张三; 城市=北京; 擅长=增长")
    await chat.say("zhangsan", "@qunbot /同意")
    assert await chat.say("lisi", "@qunbot /打赏 @张三 5") == ["lisi 打赏了 @zhangsan 5 分（本周剩余 95 分）"]
    assert await chat.say("lisi", "@qunbot /打赏 @李雷 5") == ["@lisi 群里没有「李雷」。"]


async def test_a_redelivered_message_is_answered_once(wecom_chat):
    chat = wecom_chat
    first = await chat.say("lisi", "@qunbot /提问 同一个问题\n背景", msgid="dup")
    again = await chat.say("lisi", "@qunbot /提问 同一个问题\n背景", msgid="dup")
    assert len(first) == 1 and again == []
    [listing] = await chat.say("lisi", "@qunbot /问题列表")
    assert listing.count("同一个问题") == 1


async def test_an_oversize_reply_is_split_under_wecom_s_byte_cap(wecom_chat):
    chat = wecom_chat
    for n in range(1, 40):
        await chat.say("lisi", f"@qunbot /提问 {'很长的标题' * 11}{n:02d}\n背景", step=3600)
    [first, *rest] = await chat.say("zhangsan", "@qunbot /问题列表")
    texts = [first, *rest]
    assert all(len(t.encode()) <= 20_480 for t in texts)
    assert "Q20" in "\n".join(texts)


async def test_a_group_that_never_talked_to_the_bot_is_reported_to_the_owner(fake, db_url, caplog):
    chat = WecomChat(fake, db_url)
    chat.app.config = parse_config({"communities": [{"id": "growth", "name": "增长学习社", "owners": ["laowang"],
                                                     "groups": [{"room": ROOM}, {"room": "wrkQuiet"}]}]}, env={})
    chat.app._communities = {c.id: c for c in chat.app.config.communities}
    await chat.start()
    try:
        await fake.say("laowang", "/帮助")                      # the owner has a private chat with the bot
        await asyncio.wait_for(chat.handled.get(), 10)
        await chat.say("zhangsan", "@qunbot /提问 冷启动\n背景")
        await chat.say("zhangsan", "@qunbot /回答 Q1 自己回答")
        await chat.say("lisi", "@qunbot /回答 Q1 找种子用户")
        await chat.say("zhangsan", "@qunbot /打赏 A2 10")
        with caplog.at_level(logging.ERROR):
            await chat.tick(datetime.fromisoformat("2026-11-30T09:00:30+08:00"))
        assert any("wrkQuiet" in r.getMessage() and "failed for good" in r.getMessage() for r in caplog.records)
        told = fake.pushes("laowang")            # the reminder, the agenda and the ranking did not reach it
        assert [t.split("（「", 1)[1][:2] for t in told] == ["⏰ ", "📌 ", "🏆 "]
        assert all(t.startswith("发往「wrkQuiet」的消息没有发出去") and "需要有人先在群里 @ 机器人说一句话" in t
                   for t in told)
        assert any(p.startswith("🏆 上周分享排行") for p in fake.pushes(ROOM))        # the other group got it
    finally:
        await chat.close()


async def test_the_app_reconnects_after_a_drop_and_goes_on(fake, db_url):
    chat = WecomChat(fake, db_url)
    chat.app.config = chat.app.config.model_copy(update={"adapter": chat.app.config.adapter.model_copy(
        update={"retry_max_seconds": 0.05})})
    await chat.app.start()
    serving = asyncio.create_task(chat.app.serve())
    try:
        await fake.wait_connections(1)
        await fake.drop()
        await fake.wait_connections(2)
        req_id = await fake.say("lisi", "@qunbot /积分", chat=ROOM)
        [reply] = await fake.wait_for(lambda: fake.replies_to(req_id), timeout=5)
        assert reply.startswith("@lisi 本周还能打赏 100/100 分")
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await chat.adapter.close()
        await chat.app.close()


def test_run_without_the_bot_credentials_says_which_settings_are_missing(tmp_path, capsys, monkeypatch):
    from bot.cli import main

    monkeypatch.delenv("WECOM_BOT_ID", raising=False)
    monkeypatch.delenv("WECOM_BOT_SECRET", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text("adapter:\n  type: wecom\ncommunities:\n  - id: growth\n    name: 增长学习社\n"
                      "    owners: [laowang]\n", encoding="utf-8")
    assert main(["run", "--config", str(config), "--db", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"]) == 2
    err = capsys.readouterr().err
    assert "adapter.wecom.bot_id" in err and "WECOM_BOT_SECRET" in err
