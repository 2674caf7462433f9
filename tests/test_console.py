"""`qunbot console`: typed lines drive the bot; colon commands switch speaker, add joins, move the clock."""
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.adapters import console as console_module
from bot.adapters.console import run_console
from bot.i18n import t
from tests.conftest import make_config

TUESDAY = datetime(2026, 11, 24, 11, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class TuesdayClock:
    """The console starts at the wall-clock time; pin it so the week's schedule is known."""

    def now(self) -> datetime:
        return TUESDAY


@pytest.fixture
def console(monkeypatch, db_url):
    monkeypatch.setattr(console_module, "SystemClock", TuesdayClock)

    async def run(*lines: str) -> str:
        out = io.StringIO()
        await run_console(make_config(), db_url, stdin=io.StringIO("".join(f"{line}\n" for line in lines)),
                          stdout=out)
        return out.getvalue()

    return run


def bot_messages(output: str) -> list[tuple[str, str]]:
    """(where, text) of each message the console printed from the bot."""
    found = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if " bot -> " in line:
            where = line.split(" bot -> ", 1)[1].rstrip(":")
            body = []
            for more in lines[i + 1:]:
                if not more.startswith("    "):
                    break
                body.append(more[4:])
            found.append((where, "\n".join(body)))
    return found


async def test_banner_and_help(console):
    output = await console("/help")
    assert output.startswith("qunbot console — 增长学习社.")
    messages = bot_messages(output)
    assert len(messages) == 1
    where, text = messages[0]
    assert where == "#r1" and "可用命令" in text and "/找人 /who" in text


async def test_speaking_as_another_member_signs_them_up(console):
    output = await console(":as u2 李四", "/signup 城市=北京; 擅长=增长", "/agree",
                           ":as u1 张三", "/who 增长")
    texts = [text for _, text in bot_messages(output)]
    assert len(texts) == 3
    assert texts[0].startswith("@李四 请确认你的资料") and "城市：北京" in texts[0]
    assert texts[1].startswith("@李四 登记完成，欢迎！")
    assert "李四" in texts[2] and "增长" in texts[2]


async def test_join_is_welcomed(console):
    messages = bot_messages(await console(":join u9 小明"))
    assert len(messages) == 1
    where, text = messages[0]
    assert where == "#r1" and text.startswith("欢迎 @小明 加入「增长学习社」")


async def test_tick_runs_the_weekly_post(console):
    output = await console(":join u9 小明", ":tick +7d")
    texts = [text for _, text in bot_messages(output)]
    assert len(texts) == 2
    assert texts[1].startswith(t("zh_CN", "newcomers.title", start="11.23", end="11.29", count=1))
    assert "@小明" in texts[1]
    assert "(now 2026-12-01 11:0" in output


async def test_private_chat(console):
    messages = bot_messages(await console(":dm", "/roles"))
    assert len(messages) == 1
    where, text = messages[0]
    assert where == "@u_owner (private)" and "管理角色" in text


async def test_unknown_console_command_prints_the_hint(console):
    output = await console(":foo")
    hint = [line for line in output.splitlines() if line.startswith("  ?")]
    assert len(hint) == 1 and ":foo" in hint[0] and ":help" in hint[0]
    assert bot_messages(output) == []


async def test_help_lists_the_console_commands(console):
    output = await console(":help")
    assert output.count(":tick +1d") == 2               # in the banner and again on :help


async def test_end_of_input_ends_cleanly(console):
    assert bot_messages(await console()) == []


async def test_quit_stops_reading(console):
    output = await console(":quit", "/help")
    assert bot_messages(output) == []


async def test_plain_chat_gets_no_reply(console):
    assert bot_messages(await console("大家好", "", "/::)")) == []


async def test_a_member_types_for_everyone_without_a_rate_limit(console):
    """One person plays every member here: twenty commands in a row are all answered."""
    messages = bot_messages(await console(*["/积分"] * 20))
    assert len(messages) == 20 and all("本周还能打赏" in text for _, text in messages)


async def test_a_trailing_backslash_continues_the_message_on_the_next_line(console):
    output = await console(":as u2 李四", "/提问 私域怎么做冷启动\\", "试过发朋友圈，\\", "没什么人回。", "/问题 Q1")
    texts = [text for _, text in bot_messages(output)]
    assert texts[0].startswith("已登记问题 Q1「私域怎么做冷启动」")
    assert "试过发朋友圈，\n> 没什么人回。" in texts[-1] or "试过发朋友圈，\n没什么人回。" in texts[-1], texts[-1]
    assert "... " not in output            # the continuation prompt is for a terminal only


async def test_members_are_still_in_the_group_after_the_console_restarts(console):
    await console(":as u2 李四", "/signup 城市=北京; 擅长=增长", "/agree")
    output = await console("/找人 @李四")                      # a new run, the same database, as the owner
    [(where, text)] = bot_messages(output)
    assert text == "李四 的资料：\n城市：北京\n擅长：增长"


async def test_the_owner_goes_by_a_person_s_name(console):
    [(_, text)] = bot_messages(await console("/角色"))
    assert "群主：老王" in text and "群主：群主" not in text
