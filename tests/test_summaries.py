"""LLM summaries in digests, through the official openai client against an OpenAI-compatible server this test
starts on loopback: off by default and switched by an owner, what leaves the machine (names as placeholders,
contacts masked), each batch sent once, the weekly token budget, and the extractive digest whenever the endpoint is
down, slow or answers junk."""
from __future__ import annotations

import ast
import asyncio
import json
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.adapters.base import Capability
from bot.adapters.recording import ALL_CAPABILITIES
from bot.config import RetentionConfig
from bot.masking import Pseudonyms, mask_contacts, restore
from models import DigestOpening, LlmUsage, TopicSummary
from scheduler.retention import prune
from tests.conftest import sh, to

KEY = "sk-test-not-a-real-key"
MON = sh("2026-11-23T09:00:00")
EVENING = sh("2026-11-24T20:00:00")
WED = sh("2026-11-26T10:00:00")
CHAT = [("u1", "大家觉得私域流量怎么做留存？李四上次讲过"),
        ("u2", "私域留存关键是社群运营，有问题打我电话 138-1234-5678"),
        ("u3", "社群运营要有固定的活动节奏，资料发你邮箱 wangwu@example.com"),
        ("u1", "社群留存的案例谁有？加我微信 zhangsan_88 聊"),
        ("u2", "我们做过一个社群留存的案例，王五也参与了")]
SUMMARY = "[P1] 问起私域留存，[P2] 认为关键在社群运营。"
OPENING = "本周 [P1] 和 [P2] 聊了社群留存。"
NOTE = "（🤖 部分内容没有 AI 摘要：大模型服务不可用、回答不合格、本周额度用完或还没生成，这些地方用原文摘录。）"


class FakeLLM:
    """POST /v1/chat/completions as OpenAI's API answers it: `choices` and `usage`; records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: str | None = None           # None: a good answer for what is asked
        self.slow = False
        self.tokens = 100
        self.release = asyncio.Event()
        self.port = 0
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def sent(self) -> str:
        return "\n".join(m["content"] for r in self.requests for m in r["messages"])

    def kinds(self) -> list[str]:
        return ["opening" if '"opening"' in r["messages"][0]["content"] else "summary" for r in self.requests]

    async def completions(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        body = await request.json()
        self.requests.append(body)
        if self.slow:
            await self.release.wait()
        if self.answer is not None:
            content = self.answer
        elif '"opening"' in body["messages"][0]["content"]:
            content = json.dumps({"opening": OPENING}, ensure_ascii=False)
        else:
            content = json.dumps({"summary": SUMMARY}, ensure_ascii=False)
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": 1764000000,
            "model": body["model"], "system_fingerprint": None,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": None,
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": self.tokens - 20, "completion_tokens": 20, "total_tokens": self.tokens}})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]      # type: ignore[union-attr]

    async def stop(self) -> None:
        self.release.set()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def llm(monkeypatch):
    monkeypatch.setenv("QUNBOT_TEST_LLM_KEY", KEY)
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


def settings(url: str, **more: Any) -> dict[str, Any]:
    return {"base_url": url, "model": "test-model", "api_key_env": "QUNBOT_TEST_LLM_KEY", "batch_messages": 3,
            "timeout_seconds": 0.5, **more}


@pytest.fixture
async def chat(make_chat, llm):
    """王五 (u3) is a moderator; 老王 (u_owner) the owner; the endpoint is the loopback server."""
    return await make_chat(moderators=["u3"], top_llm=settings(llm.url))


async def switched_on(chat) -> list[str]:
    return await chat.say("/周报 AI 开", "u_owner", at=MON)


async def a_discussion(chat) -> None:
    """Five messages 20:00-20:08 on Tuesday: one topic, in two batches of three (the second closes at 21:08)."""
    for i, (user, text) in enumerate(CHAT):
        await chat.say(text, user, at=EVENING + timedelta(minutes=2 * i))
    await chat.flush()


async def draft(chat) -> str:
    [private, _] = await chat.say("/周报", "u3", at=WED)
    return private


async def test_off_by_default_and_an_owner_switches_it_on_telling_the_group(chat, llm):
    assert await chat.say("/周报 AI", "u_owner", at=MON) == [
        to("老王", "本群周报的 AI 摘要：关（默认）。开启：/周报 AI 开（群主）")]
    assert await chat.say("/周报 AI 开", "u3") == [to("王五", "这个命令需要「群主」权限。")]
    [notice] = await chat.say("/周报 AI 开", "u_owner")
    assert notice.startswith("🤖 群主开启了本群周报的 AI 摘要（test-model，127.0.0.1）。从现在起，本群的群聊会按批发给")
    assert "成员名字换成代号" in notice and "手机号、邮箱和微信号遮住" in notice
    assert chat.sent[-1]["room"] == "r1"
    assert await chat.say("/周报 AI 开", "u_owner") == [to("老王", "本群的周报 AI 摘要已经是开着的。")]
    assert await chat.say("/周报 AI 开", "u_owner", room=None) == [
        "请在要开关 AI 摘要的群里发送 /周报 AI 开 或 /周报 AI 关。"]
    assert await chat.say("/周报 AI 好", "u_owner") == [to("老王", "用法：/周报 AI 开；/周报 AI 关；/周报 AI（看状态）")]
    assert await chat.say("/周报 AI 关", "u_owner") == [
        to("老王", "已关闭本群周报的 AI 摘要，此后不再向大模型发送本群的任何内容；周报只用原文摘录。")]
    await a_discussion(chat)
    await chat.tick(sh("2026-11-25T09:00:00"))
    assert llm.requests == []          # off: nothing leaves
    assert "🤖" not in await draft(chat)


async def test_without_an_endpoint_it_cannot_be_switched_on(make_chat):
    chat = await make_chat()
    assert await chat.say("/digest ai on", "u_owner") == [
        to("老王", "还没有配置大模型接口（config.yaml 的 llm，密钥放在环境变量里），不能开启 AI 摘要。")]


async def test_batches_leave_once_with_names_and_contacts_masked_and_the_digest_reads_names_back(chat, llm):
    await switched_on(chat)
    await a_discussion(chat)
    await chat.tick(sh("2026-11-25T09:00:00"))
    # 20:10: the first three messages (the topic is still open), then the opening; 21:10: the last two, the topic
    # closed (the summary came back the same, so the opening is not asked again). Later runs: nothing new, nothing.
    assert llm.kinds() == ["summary", "opening", "summary"]
    sent = llm.sent()
    for private in ("张三", "李四", "王五", "u1", "u2", "u3", "138-1234-5678", "wangwu@example.com", "zhangsan_88"):
        assert private not in sent
    first, second = llm.requests[0]["messages"][1]["content"], llm.requests[2]["messages"][1]["content"]
    assert first == ("Messages:\n[P1]: 大家觉得私域流量怎么做留存？[P2]上次讲过\n"
                     "[P2]: 私域留存关键是社群运营，有问题打我电话 [PHONE]\n"
                     "[P3]: 社群运营要有固定的活动节奏，资料发你邮箱 [EMAIL]")
    assert second == (f"Summary so far (update it with the new messages):\n{SUMMARY}\n\nMessages:\n"
                      "[P1]: 社群留存的案例谁有？加我微信 [WECHAT] 聊\n[P2]: 我们做过一个社群留存的案例，[P3]也参与了")
    assert llm.requests[0]["model"] == "test-model"

    lines = (await draft(chat)).split("\n")
    assert lines[1] == "🤖 本周 张三 和 李四 聊了社群留存。"
    topic = next(i for i, line in enumerate(lines) if "💬 讨论" in line)
    assert lines[topic + 1] == "  🤖 摘要：张三 问起私域留存，李四 认为关键在社群运营。"
    assert NOTE not in lines

    await chat.say("/周报 发布", "u3")
    await chat.tick(sh("2026-11-27T09:00:00"))
    assert len(llm.requests) == 3        # publishing and later runs send nothing again
    [issue] = [r["text"] for r in chat.sent if r.get("room") == "r1" and r["text"].startswith("📰")]
    assert "🤖 摘要：张三 问起私域留存，李四 认为关键在社群运营。" in issue
    assert await chat.say("/周报 AI", "u_owner") == [
        to("老王", "本群周报的 AI 摘要：开。本周已用 300 / 100000 tokens。关闭：/周报 AI 关")]


async def test_the_weekly_budget_counts_the_reported_usage_and_then_excerpts_stand_in(make_chat, llm):
    chat = await make_chat(moderators=["u3"], top_llm=settings(llm.url, weekly_token_budget=150))
    await switched_on(chat)
    await a_discussion(chat)
    await chat.tick(sh("2026-11-25T09:00:00"))
    assert llm.kinds() == ["summary", "opening"]       # 200 tokens reported: the budget is spent
    private = await draft(chat)
    assert "🤖 摘要：张三 问起私域留存" in private          # the first batch's summary, all there is
    assert await chat.say("/周报 AI", "u_owner") == [
        to("老王", "本群周报的 AI 摘要：开。本周已用 200 / 150 tokens。关闭：/周报 AI 关")]
    # A new week, a new budget.
    await chat.say("还在讨论留存", "u1", at=sh("2026-11-30T20:00:00"))
    await chat.say("留存要看数据", "u2")
    await chat.say("留存要看社群", "u3")
    await chat.flush()
    await chat.tick(sh("2026-11-30T22:00:00"))
    assert llm.kinds().count("summary") == 2


JUNK = [
    "",                                                    # empty
    "私域留存的关键是社群运营。",                              # not the JSON asked for
    json.dumps({"summary": "讨论了留存。" * 60}, ensure_ascii=False),                 # over length
    json.dumps({"summary": "一。二。三。四。"}, ensure_ascii=False),                    # over three sentences
    json.dumps({"summary": "[P7] 说了很多。"}, ensure_ascii=False),                    # someone who is not there
    json.dumps({"text": "留存"}, ensure_ascii=False),                                 # not the field asked for
]


@pytest.mark.parametrize("answer", JUNK, ids=["empty", "not_json", "too_long", "sentences", "placeholder", "field"])
async def test_a_junk_answer_falls_back_to_excerpts_and_publishing_goes_on(chat, llm, answer):
    llm.answer = answer
    await switched_on(chat)
    await a_discussion(chat)
    await chat.tick(sh("2026-11-25T09:00:00"))
    assert llm.requests                               # asked, and the answers thrown away
    assert len(llm.requests) <= 6                    # a failed batch is tried a few times at most
    lines = (await draft(chat)).split("\n")
    assert NOTE in lines and not any("🤖 摘要" in line for line in lines)
    assert "  李四：私域留存关键是社群运营，有问题打我电话 138-1234-5678" in lines      # the excerpts stay
    await chat.say("/周报 发布", "u3")
    [issue] = [r["text"] for r in chat.sent if r.get("room") == "r1" and r["text"].startswith("📰")]
    assert NOTE in issue


async def test_an_endpoint_too_slow_or_down_falls_back_and_never_holds_up_publishing(chat, llm):
    llm.slow = True
    await switched_on(chat)
    await a_discussion(chat)
    await chat.tick(sh("2026-11-24T20:30:00"))
    assert len(llm.requests) == 1                    # timed out: nothing more that run
    assert NOTE in await draft(chat)
    # Down: nothing listens on the port any more. The next run fails at once; the digest is published all the same.
    llm.release.set()
    await llm.stop()
    await chat.tick(sh("2026-11-26T12:00:00"))
    await chat.say("/周报 发布", "u3")
    [issue] = [r["text"] for r in chat.sent if r.get("room") == "r1" and r["text"].startswith("📰")]
    assert NOTE in issue and "💬 讨论：留存、社群、案例（5 条，张三、李四、王五）" in issue


async def test_a_refused_connection_is_a_failure_too(make_chat, llm):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chat = await make_chat(moderators=["u3"], top_llm=settings(f"http://127.0.0.1:{port}/v1"))
    await switched_on(chat)
    await a_discussion(chat)
    await chat.tick(sh("2026-11-25T09:00:00"))
    assert NOTE in await draft(chat)


async def test_where_the_bot_sees_only_mentions_the_notice_says_so_and_no_chat_leaves(make_chat, llm):
    chat = await make_chat(moderators=["u3"], top_llm=settings(llm.url),
                           capabilities=ALL_CAPABILITIES - {Capability.SEES_ALL_MESSAGES})
    [notice] = await switched_on(chat)
    assert "这个平台上我只看得到 @我 的消息，没有群聊可摘要" in notice
    await chat.say("/提问 张三的社群怎么做留存", "u2", at=EVENING)
    await chat.tick(sh("2026-11-25T09:00:00"))
    assert llm.kinds() == ["opening"]
    assert "Questions:\n- [P1]的社群怎么做留存" in llm.sent()


def test_contacts_are_masked_and_names_come_back():
    assert mask_contacts("电话 13812345678 或 +86 138 1234 5678，邮箱 a.b@c.com.cn，vx：abc_123，wxid_x1y2") == \
        "电话 [PHONE] 或 [PHONE]，邮箱 [EMAIL]，vx：[WECHAT]，[WECHAT]"
    mask = Pseudonyms({"张三": "u1", "Tom": "u9", "张三丰": "u5"})
    assert mask.redact("张三丰和张三，Tomato 和 Tom") == "[P1]和[P2]，Tomato 和 [P3]"
    assert mask.people == {"[P1]": "u5", "[P2]": "u1", "[P3]": "u9"}
    assert restore("[P2] 同意 [P1]", mask.people, {"u1": "张三", "u5": "张三丰"}) == "张三 同意 张三丰"
    assert restore("[P3] 说", mask.people, {"u1": "张三"}) is None        # someone who may no longer be named
    assert mask.unknown("[P1] 和 [P4]") == {"[P4]"}


def test_no_module_imports_the_llm_client_at_its_top():
    root = Path(__file__).resolve().parents[1]
    for package in ("bot", "handlers", "models", "scheduler"):
        for path in (root / package).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                assert not any(n.split(".")[0] == "openai" for n in names), path


async def test_a_member_who_deletes_their_data_takes_the_summaries_about_them_along(chat, llm):
    await switched_on(chat)
    await a_discussion(chat)
    await chat.tick(sh("2026-11-25T09:00:00"))
    await chat.say("/资料 删除 确认", "u2")
    [private, _] = await chat.say("/周报", "u3", at=sh("2026-11-25T09:05:00"))    # before the next run
    assert "🤖 摘要" not in private and "🤖 本周" not in private and NOTE in private
    async with chat.app.sessions() as db:
        assert list(await db.scalars(select(TopicSummary.id))) == []
        assert list(await db.scalars(select(DigestOpening.id))) == []


def test_the_api_key_is_masked_in_logs(llm):
    from bot.redaction import config_secrets
    from tests.conftest import make_config

    assert KEY in config_secrets(make_config(top_llm=settings(llm.url)))


async def test_a_failed_batch_is_tried_again_on_the_next_run(chat, llm):
    await switched_on(chat)
    llm.answer = "不是 JSON"
    await a_discussion(chat)
    await chat.tick(sh("2026-11-24T20:15:00"))
    assert llm.kinds() == ["summary"]
    assert NOTE in (await chat.say("/周报", "u3"))[0]
    llm.answer = None
    await chat.tick(sh("2026-11-24T21:15:00"))
    assert llm.kinds() == ["summary", "summary", "summary", "opening"]
    private = await draft(chat)
    assert "🤖 摘要：张三 问起私域留存" in private and NOTE not in private


async def test_in_english(make_chat, llm):
    chat = await make_chat(moderators=["u3"], locale="en", top_llm=settings(llm.url))
    assert await chat.say("/digest ai", "u_owner", at=MON) == [
        to("老王", "AI summaries in this group's digests: off (the default). Turn on: /digest ai on (owners)")]
    [notice] = await chat.say("/digest ai on", "u_owner")
    assert notice.startswith("🤖 An owner switched on AI summaries for this group's digests (test-model, 127.0.0.1).")
    await a_discussion(chat)
    await chat.tick(sh("2026-11-25T09:00:00"))
    assert "in English" in llm.requests[0]["messages"][0]["content"]
    [private, _] = await chat.say("/digest", "u3", at=WED)
    assert "  🤖 Summary: 张三 问起私域留存，李四 认为关键在社群运营。" in private.split("\n")


async def test_requests_go_out_beside_the_scheduler_and_a_run_still_at_work_is_left_be(make_chat, llm):
    """The endpoint takes its time (well within the timeout): the scheduler's round returns while the request is
    out, and the next hour's run, finding that one still at work, sends nothing again."""
    chat = await make_chat(moderators=["u3"], top_llm=settings(llm.url, timeout_seconds=30))
    llm.slow = True
    await switched_on(chat)
    await a_discussion(chat)
    app = chat.driver.app
    for at in (sh("2026-11-24T20:10:00"), sh("2026-11-24T21:10:00")):
        app.clock.set(at)
        await asyncio.wait_for(app.run_due(at), 5)
        for _ in range(100):
            if llm.requests:
                break
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert llm.kinds() == ["summary"]           # the second run left the first at work
    llm.release.set()
    await app.settle()
    assert llm.kinds() == ["summary", "opening"]
    async with app.sessions() as db:
        assert [s.batch for s in await db.scalars(select(TopicSummary))] == [0]


async def test_summaries_and_their_token_counts_go_with_the_chat_they_were_made_of(chat, llm):
    await switched_on(chat)
    await a_discussion(chat)
    await chat.tick(sh("2026-11-24T22:15:00"))
    app = chat.driver.app

    async def stored() -> list[int]:
        async with app.sessions() as db:
            return [len((await db.scalars(select(model))).all()) for model in (TopicSummary, DigestOpening, LlmUsage)]

    assert all(await stored())
    kept = RetentionConfig()
    assert (await prune(app.sessions, kept, sh("2026-11-24T22:15:00") + timedelta(days=kept.chat_days - 1))).chat == 0
    assert all(await stored())
    pruned = await prune(app.sessions, kept, sh("2026-11-24T22:15:00") + timedelta(days=kept.chat_days))
    assert pruned.chat == 5 and await stored() == [0, 0, 0]
