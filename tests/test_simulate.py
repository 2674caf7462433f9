"""`qunbot simulate` as a black box: a JSONL script in, everything the bot sent as JSONL out."""
import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.events import ChatRef, IncomingMessage, JoinEvent, LeaveEvent, Member, MembersEvent, MessageKind, Outgoing
from bot.i18n import t
from bot.simulate import ScriptError, parse_script
from bot.transcript import Transcript, wants_color

ROOT = Path(__file__).resolve().parents[1]


def run_simulate(script: str | Path, tmp_path: Path, *, config: str | Path = "config.yaml",
                 tmpdir: Path | None = None) -> subprocess.CompletedProcess:
    """`qunbot simulate` from the repository root; the owners' report charts go to `tmp_path`, not the checkout."""
    if isinstance(script, str):
        path = tmp_path / "script.jsonl"
        path.write_text(script, encoding="utf-8")
        script = path
    text = (ROOT / config).read_text(encoding="utf-8")
    if "\ncharts_dir: charts " in text:
        config = tmp_path / "simulate-config.yaml"
        config.write_text(text.replace("\ncharts_dir: charts ", f"\ncharts_dir: {tmp_path / 'charts'} "),
                          encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUNBOT_", "WECHATY_"))}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, "-m", "bot.cli", "simulate", "--config", str(config),
                           "--script", str(script)],
                          cwd=ROOT, env=env, capture_output=True, encoding="utf-8", timeout=300)


def rows_of(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def event(**fields) -> str:
    return json.dumps(fields, ensure_ascii=False)


def script(*lines: str) -> str:
    return "\n".join(lines) + "\n"


MEMBERS = event(type="members", at="2026-11-23T08:00:00+08:00", room="r1",
                members=[{"user": "u_owner", "name": "老王"}, {"user": "u1", "name": "张三"},
                         {"user": "u2", "name": "李四"}])
ROLES = "「增长学习社」的管理角色："


def newcomers(count: int) -> str:
    """The title of the weekly post introducing the week of 11.23 (what the scripts' joins fall in)."""
    return t("zh_CN", "newcomers.title", start="11.23", end="11.29", count=count)


def say(at: str, text: str, user: str = "u1", **extra) -> str:
    fields = {"type": "message", "at": f"2026-11-23T{at}+08:00", "room": "r1", "user": user, "text": text}
    fields.update(extra)
    return event(**{k: v for k, v in fields.items() if v is not None})


# ---- the demo ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("demo")
    result = run_simulate(ROOT / "examples" / "demo.jsonl", tmp_path, tmpdir=tmp_path)
    return result, tmp_path


def test_demo_runs_and_prints_one_json_object_per_line(demo):
    result, tmp_path = demo
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = rows_of(result)
    assert len(rows) > 10
    times = []
    for row in rows:
        assert row["type"] in {"say", "image", "remove"}
        at = datetime.fromisoformat(row["at"])
        assert at.utcoffset() is not None
        times.append(at)
        if "room" in row:
            assert isinstance(row["mentions"], list) and "user" not in row
        else:
            assert isinstance(row["user"], str) and "mentions" not in row
    assert times == sorted(times)
    assert [p.name for p in tmp_path.iterdir() if "qunbot" in p.name] == []   # the temporary database is gone


def test_demo_output_is_utf8_not_escaped(demo):
    result, _ = demo
    assert "\\u" not in result.stdout
    assert "欢迎" in result.stdout


def test_demo_shows_the_whole_week(demo):
    rows = rows_of(demo[0])
    texts = [r.get("text", "") for r in rows]
    welcome = [r for r in rows if r.get("text", "").startswith("欢迎 @王五 @赵六")]
    assert len(welcome) == 1 and welcome[0]["mentions"] == ["u3", "u4"]      # one combined welcome
    assert welcome[0]["at"] == "2026-11-24T20:00:08+08:00"                  # 5 s after the second join
    consents = [t for t in texts if re.sub(r"^@\S+ ", "", t).startswith("请确认你的资料")]
    assert len(consents) == 2 and all("/同意" in t for t in consents)
    assert sum(re.sub(r"^@\S+ ", "", t).startswith("登记完成") for t in texts) == 2
    search = [t for t in texts if t.startswith("找到 2 位和「增长」相关的成员")]
    assert len(search) == 1 and "张三" in search[0] and "王五" in search[0]
    weekly = [r for r in rows if r.get("text", "").startswith(newcomers(2))]
    assert len(weekly) == 1
    assert weekly[0]["at"] == "2026-11-30T10:00:00+08:00" and weekly[0]["mentions"] == ["u3", "u4"]
    assert "@王五" in weekly[0]["text"] and "@赵六" in weekly[0]["text"]
    assert not any(r["at"].startswith("2026-11-25T10:02") for r in rows)     # "/::)" is chat, not a command


def test_demo_guided_signup_happens_in_private(demo):
    rows = rows_of(demo[0])
    private = [r for r in rows if r.get("user") == "u3"]
    assert len(private) >= 10
    assert all(set(r) == {"at", "type", "user", "text"} and r["type"] == "say" for r in private)



# ---- a week of questions and rewards -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def week(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("week")
    result = run_simulate(ROOT / "examples" / "week.jsonl", tmp_path, tmpdir=tmp_path)
    assert result.returncode == 0, result.stderr
    return rows_of(result)


def _one(rows, start: str) -> dict:
    found = [r for r in rows if re.sub(r"^@\S+ ", "", r.get("text", "")).startswith(start)]
    assert len(found) == 1, (start, [r.get("text", "")[:40] for r in rows])
    return found[0]


def test_week_example_asks_reminds_and_runs_the_session(week):
    texts = [r.get("text", "") for r in week]
    assert any(t.startswith("已登记问题 Q1「教育产品如何做用户增长」，排在 11.25（周三）20:00") for t in texts)
    assert any(t.startswith("已登记问题 Q3「私域社群的活跃度怎么衡量」，排在 12.2（周三）20:00") for t in texts)  # after the cutoff
    reminder = _one(week, "⏰ 明天 11.25（周三）20:00 问答，本期 2 个问题")
    assert reminder["at"] == "2026-11-24T20:00:00+08:00"
    agenda = _one(week, "📌 11.25（周三）20:00 问答开始了！本期 2 个问题")
    assert agenda["at"] == "2026-11-25T20:00:00+08:00"
    assert "Q3" not in agenda["text"] and "可能了解的人：@李四" in agenda["text"]
    assert set(agenda["mentions"]) == {"u2", "u3"}


def test_week_example_tips_best_answers_and_the_challenge(week):
    tip = _one(week, "张三 打赏了 @李四 30 分（A1）：讲得透彻（本周剩余 70 分）")
    assert tip["mentions"] == ["u2"]
    refused = _one(week, "本周额度只剩 50 分，不够打赏 80 分")
    assert refused["text"].startswith("@张三 ") and refused["mentions"] == ["u1"]   # said to the tipper
    _one(week, "不能给自己打赏")
    won = _one(week, "🎉 @小明 通过挑战 Q2 的最佳回答，免入群费 ¥200.00")
    assert won["mentions"] == ["u9"]
    _one(week, "只有提问者或版主可以为 Q2 选最佳回答")


def test_week_example_pays_the_week_and_posts_the_ranking_once(week):
    post = _one(week, "🏆 上周分享排行（11.23–11.29）")
    assert post["at"] == "2026-11-30T09:00:00+08:00"
    lines = post["text"].split("\n")
    assert lines[1:4] == ["1. @李四 85 分（打赏 45 · 最佳 1 · 帮助 1 人），奖励 ¥50.00",
                          "2. @小明 40 分（打赏 0 · 最佳 1 · 帮助 1 人），奖励 ¥30.00",
                          "3. @王五 30 分（打赏 20 · 最佳 0 · 帮助 1 人），奖励 ¥20.00"]
    fund = _one(week, "「增长学习社」基金 · 公开账本")
    assert "奖励池：¥5,100.00 可分配（另有待付奖励 ¥100.00）" in fund["text"]   # 5,200 // 52 weeks = 100 paid
    assert "1. 李四 ¥50.00（待付）" in fund["text"]
    ledger = _one(week, "最近 8 笔")
    assert "#8 11.30 奖励已付 ¥50.00 · 李四" in ledger["text"]
    assert "#4 11.25 免入群费 ¥200.00 · 小明" in ledger["text"]

# ---- malformed scripts -------------------------------------------------------------------------------------

GOOD = say("09:00:00", "/help")
BAD = [
    ("bad json", '{"type": "tick", "at": ', "not valid JSON"),
    ("unknown type", event(type="dance", at="2026-11-23T10:00:00+08:00"), "type must be one of"),
    ("missing at", event(type="tick"), "'at' is required"),
    ("at without offset", event(type="tick", at="2026-11-23T10:00:00"), "UTC offset"),
    ("time going back", event(type="tick", at="2026-11-23T08:59:00+08:00"), "goes back in time"),
    ("wrong field type", say("10:00:00", 42), "'text' must be a str"),
    ("unknown field", say("10:00:00", "/help", colour="red"), "unknown field 'colour'"),
]
MORE_BAD = [
    ("at not a time", event(type="tick", at="next monday"), "not an ISO-8601 time"),
    ("mentions not ids", say("10:00:00", "/help", mentions=[1]), "'mentions'"),
    ("missing field", event(type="join", at="2026-11-23T10:00:00+08:00", room="r1"), "needs 'user'"),
    ("text missing", event(type="message", at="2026-11-23T10:00:00+08:00", user="u1"), "needs 'text'"),
    ("bad kind", say("10:00:00", "hi", kind="video"), "kind must be one of"),
    ("bad member", event(type="members", at="2026-11-23T10:00:00+08:00", room="r1", members=["u1"]),
     "each member"),
    ("not an object", "[1, 2]", "expected a JSON object"),
]


@pytest.mark.parametrize("bad_line, reason", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_script_exits_2_naming_the_line_and_prints_nothing(tmp_path, bad_line, reason):
    # comments and blank lines count for line numbers; the bad line comes last, after lines that would answer
    text = script("# a malformed script", "", MEMBERS, GOOD, bad_line)
    result = run_simulate(text, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("line 5: "), result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("bad_line, reason", [b[1:] for b in BAD + MORE_BAD], ids=[b[0] for b in BAD + MORE_BAD])
def test_script_validation_names_the_line_and_the_reason(bad_line, reason):
    with pytest.raises(ScriptError) as err:
        parse_script(script(MEMBERS, GOOD, "", bad_line))
    assert str(err.value).startswith("line 4: ") and reason in str(err.value)


def test_missing_script_file_exits_2(tmp_path):
    result = run_simulate(tmp_path / "nope.jsonl", tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert "nope.jsonl" in result.stderr and "Traceback" not in result.stderr


# ---- behaviour ---------------------------------------------------------------------------------------------

def test_comments_and_blank_lines_are_skipped(tmp_path):
    rows = rows_of(run_simulate(script("# members first", MEMBERS, "", "   ", "  # indented comment",
                                       say("09:00:00", "/roles")), tmp_path))
    assert len(rows) == 1 and rows[0]["text"].startswith(ROLES)


def test_empty_script_prints_nothing(tmp_path):
    result = run_simulate(script("# nothing happens", ""), tmp_path)
    assert result.returncode == 0 and result.stdout == ""


def test_repeated_message_id_is_answered_once(tmp_path):
    rows = rows_of(run_simulate(script(MEMBERS, say("09:00:00", "/roles", id="wx-1"),
                                       say("09:00:05", "/roles", id="wx-1")), tmp_path))
    assert [r["text"].startswith(ROLES) for r in rows] == [True]


def test_private_messages_are_answered_in_private_without_mentions(tmp_path):
    dm = event(type="message", at="2026-11-23T09:00:00+08:00", user="u2", name="李四", text="/roles")
    rows = rows_of(run_simulate(script(MEMBERS, dm), tmp_path))
    assert len(rows) == 1
    assert rows[0]["type"] == "say" and rows[0]["user"] == "u2"
    assert "room" not in rows[0] and "mentions" not in rows[0]
    assert rows[0]["text"].startswith(ROLES)


def test_mentions_are_carried_with_the_names_in_the_text(tmp_path):
    rows = rows_of(run_simulate(script(
        MEMBERS, say("09:00:00", "/appoint @李四 版主", user="u_owner", name="老王", mentions=["u2"])), tmp_path))
    assert len(rows) == 1
    assert rows[0]["mentions"] == ["u2"] and "@李四" in rows[0]["text"]


def test_reply_pending_at_a_restart_is_sent_once_after_it(tmp_path):
    rows = rows_of(run_simulate(script(
        MEMBERS,
        say("09:00:00", "/roles", user="u1", id="a"),
        say("09:00:00", "/roles", user="u2", id="b"),         # paced: due a second later, after the crash
        event(type="restart", at="2026-11-23T09:05:00+08:00"),
        event(type="tick", at="2026-11-23T09:10:00+08:00"),
    ), tmp_path))
    assert [r["at"] for r in rows if r["text"].startswith(ROLES)] == [
        "2026-11-23T09:00:00+08:00", "2026-11-23T09:05:00+08:00"]


def test_a_redelivery_after_a_restart_changes_nothing(tmp_path):
    rows = rows_of(run_simulate(script(
        MEMBERS, say("09:00:00", "/roles", id="wx-7"),
        event(type="restart", at="2026-11-23T09:05:00+08:00"),
        say("09:05:10", "/roles", id="wx-7"),
    ), tmp_path))
    assert len(rows) == 1


JOIN = event(type="join", at="2026-11-24T20:00:00+08:00", room="r1", user="u3", name="王五", inviter="u1")
WELCOMED = event(type="tick", at="2026-11-24T20:05:00+08:00")    # the welcome went out before the crash


def test_weekly_post_missed_while_down_is_posted_on_return(tmp_path):
    rows = rows_of(run_simulate(script(
        MEMBERS, JOIN, WELCOMED,
        event(type="restart", at="2026-12-01T09:00:00+08:00"),   # down over Monday 10:00
        event(type="tick", at="2026-12-02T00:00:00+08:00"),
    ), tmp_path))
    rows = [r for r in rows if r.get("room")]                 # the group's posts (the owners' report aside)
    assert len(rows) == 2 and rows[0]["text"].startswith("欢迎 @王五")
    weekly = rows[1]
    assert weekly["text"].startswith(newcomers(1))
    assert weekly["at"] == "2026-12-01T09:00:00+08:00" and weekly["mentions"] == ["u3"]


def test_announcement_missed_several_times_runs_once_for_the_latest(tmp_path):
    config = (ROOT / "config.yaml").read_text(encoding="utf-8").replace(
        'post_new_members: "0 10 * * mon"', 'post_new_members: "0 10 * * *"')   # every day: last week's newcomers
    assert '"0 10 * * *"' in config
    (tmp_path / "daily.yaml").write_text(config, encoding="utf-8")
    rows = rows_of(run_simulate(script(
        MEMBERS, JOIN, WELCOMED,
        event(type="restart", at="2026-12-04T09:00:00+08:00"),   # missed 11-25 .. 12-03
        event(type="tick", at="2026-12-04T09:30:00+08:00"),
    ), tmp_path, config=tmp_path / "daily.yaml"))
    rows = [r for r in rows if r.get("room")]                 # the group's posts (the owners' report aside)
    assert len(rows) == 2 and rows[0]["text"].startswith("欢迎 @王五")   # one post, not one per missed day
    weekly = rows[1]
    assert weekly["text"].startswith(newcomers(1))
    assert weekly["at"] == "2026-12-04T09:00:00+08:00" and weekly["mentions"] == ["u3"]


def test_at_the_end_pending_messages_drain_but_no_more_jobs_run(tmp_path):
    rows = rows_of(run_simulate(script(MEMBERS, JOIN), tmp_path))
    # the welcome waits for more joins (5 s) and still goes out; Monday's post is after the script: not run
    assert [(r["at"], r["mentions"]) for r in rows] == [("2026-11-24T20:00:05+08:00", ["u3"])]
    assert rows[0]["text"].startswith("欢迎 @王五")


def test_messages_in_rooms_the_config_does_not_list_are_ignored(tmp_path):
    elsewhere = event(type="message", at="2026-11-23T09:00:00+08:00", room="r9", user="u1", name="张三",
                      text="/roles")
    rows = rows_of(run_simulate(script(MEMBERS, elsewhere, say("09:01:00", "/roles")), tmp_path))
    assert [r["room"] for r in rows] == ["r1"]


def test_a_reader_that_stops_early_gets_no_traceback():
    """`qunbot simulate ... | head -1`: the output ends where the reader stopped reading, quietly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUNBOT_", "WECHATY_"))}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "simulate", "--config", "config.yaml", "--script",
                             "examples/week.jsonl"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()                                 # like `head -1` exiting
    _, err = proc.communicate(timeout=300)
    assert json.loads(first)["type"] == "say"
    assert proc.returncode == 0 and err.decode() == ""


# ---- --format chat: a transcript to read -------------------------------------------------------------------

CHAT_CONFIG = {"timezone": "Asia/Shanghai", "bot_names": ["qunbot"], "communities": [
    {"id": "growth", "name": "增长学习社", "owners": ["u_owner"], "groups": [{"room": "r1", "name": "增长学习社 1 群"}]}]}
AT = datetime.fromisoformat("2026-11-24T20:05:00+08:00")


def transcript(**options) -> Transcript:
    return Transcript(parse_config(CHAT_CONFIG), **options)


def test_chat_shows_a_multi_line_reply_as_one_block_indented_under_its_time():
    chat = transcript()
    text = chat.sent(Outgoing(ChatRef(room_id="r1"), "找到 2 位成员：\n1. 张三\n\n2. 王五", ("u2",)), AT)
    assert text == ("—— 2026.11.24（周二）——\n"
                    "20:05 [增长学习社 1 群] qunbot → 找到 2 位成员：\n"
                    "      1. 张三\n"
                    "\n"
                    "      2. 王五\n")
    # the same day again: no second day line
    assert chat.sent(Outgoing(ChatRef(room_id="r1"), "好"), AT) == "20:05 [增长学习社 1 群] qunbot → 好\n"


def test_chat_tells_a_private_chat_from_a_group_by_the_member_s_name():
    chat = transcript()
    chat.received(JoinEvent("j1", "r1", "u3", "王五", AT, inviter_id="u1"))
    assert chat.received(IncomingMessage("m1", None, "u3", "王五", "上海", AT)) == "20:05 [私聊 王五] 王五: 上海\n"
    assert chat.sent(Outgoing(ChatRef(user_id="u3"), "（2/9）你的职位？"), AT) == "20:05 [私聊 王五] qunbot → （2/9）你的职位？\n"
    assert chat.received(IncomingMessage("m2", "r1", "u3", "王五", "/登记", AT)) == "20:05 [增长学习社 1 群] 王五: /登记\n"
    # someone the transcript never saw is shown by id; a room config.yaml does not name, by its id
    assert chat.sent(Outgoing(ChatRef(user_id="u9"), "hi"), AT) == "20:05 [私聊 u9] qunbot → hi\n"
    assert chat.received(IncomingMessage("m3", "r9", "u3", "王五", "hi", AT)) == "20:05 [r9] 王五: hi\n"


def test_chat_shows_images_removals_and_what_members_send_besides_text():
    chat = transcript()
    chat.received(MembersEvent("l1", "r1", (Member("u1", "张三"), Member("u9", "小广告")), AT))
    assert chat.sent(Outgoing(ChatRef(room_id="r1"), "本周排行", kind="image", path="/tmp/rank.png"), AT) == \
        "20:05 [增长学习社 1 群] qunbot → [图片 /tmp/rank.png] 本周排行\n"
    assert chat.sent(Outgoing(ChatRef(user_id="u1"), "", kind="image", path="card.png"), AT) == \
        "20:05 [私聊 张三] qunbot → [图片 card.png]\n"
    assert chat.sent(Outgoing(ChatRef(room_id="r1"), "多次发广告", kind="remove", target="u9"), AT) == \
        "20:05 [增长学习社 1 群] qunbot → [移出 小广告] 多次发广告\n"
    assert chat.sent(Outgoing(ChatRef(room_id="r1"), "那条消息", kind="recall"), AT) == \
        "20:05 [增长学习社 1 群] qunbot → [recall] 那条消息\n"          # a kind it does not know: shown, not dropped
    link = IncomingMessage("m1", "r1", "u9", "小广告", "限时优惠", AT, kind=MessageKind.LINK, url="https://x.example")
    assert chat.received(link) == "20:05 [增长学习社 1 群] 小广告: [链接 https://x.example] 限时优惠\n"
    picture = IncomingMessage("m2", "r1", "u1", "张三", "", AT, kind=MessageKind.IMAGE)
    assert chat.received(picture) == "20:05 [增长学习社 1 群] 张三: [图片]\n"
    assert chat.received(picture) == "20:05 [增长学习社 1 群] 张三: [图片]（重复投递）\n"


def test_chat_shows_joins_leaves_member_lists_and_restarts():
    chat = transcript()
    many = tuple(Member(f"u{i}", f"成员{i}") for i in range(12))
    assert chat.received(MembersEvent("l1", "r1", many, AT)) == (
        "—— 2026.11.24（周二）——\n20:05 [增长学习社 1 群] 成员列表（12 人）："
        + "、".join(f"成员{i}" for i in range(10)) + "、…\n")
    assert chat.received(JoinEvent("j1", "r1", "u20", "王五", AT)) == "20:05 [增长学习社 1 群] 王五 加入了群聊\n"
    assert chat.received(JoinEvent("j2", "r1", "u21", "赵六", AT, inviter_id="u1")) == \
        "20:05 [增长学习社 1 群] 成员1 邀请 赵六 加入了群聊\n"
    assert chat.received(LeaveEvent("x1", "r1", "u20", AT)) == "20:05 [增长学习社 1 群] 王五 退出了群聊\n"
    assert chat.restarted(datetime.fromisoformat("2026-11-25T09:00:00+08:00")) == \
        "—— 2026.11.25（周三）——\n09:00 （qunbot 重启）\n"


def test_chat_speaks_the_configured_locale():
    chat = Transcript(parse_config({**CHAT_CONFIG, "locale": "en"}))
    chat.received(MembersEvent("l1", "r1", (Member("u1", "Ann"),), AT))
    assert chat.sent(Outgoing(ChatRef(user_id="u1"), "hi", kind="image", path="a.png"), AT) == \
        "20:05 [private Ann] qunbot → [image a.png] hi\n"


def test_chat_colours_only_when_asked():
    message = Outgoing(ChatRef(room_id="r1"), "第一行\n第二行")
    plain = transcript().sent(message, AT)
    coloured = transcript(color=True).sent(message, AT)
    assert "\x1b[" not in plain
    assert "\x1b[" in coloured and re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain       # the same text, painted


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_colour_is_for_a_terminal_without_no_color():
    assert wants_color(_Stream(tty=True), {}) is True
    assert wants_color(_Stream(tty=True), {"NO_COLOR": "1"}) is False
    assert wants_color(_Stream(tty=True), {"NO_COLOR": ""}) is True          # set but empty does not count
    assert wants_color(_Stream(tty=False), {}) is False
    assert wants_color(object(), {}) is False                                   # not a stream at all


def run_chat(script_path: Path, *, tty: bool = False, env: dict[str, str] | None = None) -> str:
    """`qunbot simulate --format chat` as a person runs it: stdout a pipe, or a terminal (a pseudo-terminal)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("QUNBOT_", "WECHATY_", "NO_COLOR"))}
    environ.update(env or {})
    argv = [sys.executable, "-m", "bot.cli", "simulate", "--config", "config.yaml", "--script", str(script_path),
            "--format", "chat"]
    if not tty:
        result = subprocess.run(argv, cwd=ROOT, env=environ, capture_output=True, encoding="utf-8", timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stdout
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, cwd=ROOT, env=environ, stdout=follower, stderr=subprocess.PIPE)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:              # EIO: the program closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


CHAT_SCRIPT = script(MEMBERS, say("09:00:00", "/roles", name="张三"),
                     event(type="message", at="2026-11-23T09:01:00+08:00", user="u2", name="李四", text="/roles"))


def test_chat_format_echoes_the_members_and_shows_the_replies(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text(CHAT_SCRIPT, encoding="utf-8")
    out = run_chat(path)
    lines = out.split("\n")
    assert lines[:4] == ["—— 2026.11.23（周一）——", "08:00 [增长学习社 1 群] 成员列表（3 人）：老王、张三、李四",
                         "09:00 [增长学习社 1 群] 张三: /roles", f"09:00 [增长学习社 1 群] qunbot → {ROLES}"]
    assert lines[4].startswith("      ")                                        # the reply's next line, indented
    private = lines.index("09:01 [私聊 李四] 李四: /roles")
    assert lines[private + 1] == f"09:01 [私聊 李四] qunbot → {ROLES}"
    assert "\x1b[" not in out                                                  # piped: no colour


def test_chat_format_is_in_colour_at_a_terminal_unless_no_color(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text(CHAT_SCRIPT, encoding="utf-8")
    coloured = run_chat(path, tty=True)
    assert "\x1b[" in coloured and "张三" in coloured
    plain = run_chat(path, tty=True, env={"NO_COLOR": "1"})
    assert "\x1b[" not in plain
    assert plain == re.sub(r"\x1b\[[0-9;]*m", "", coloured)


def test_format_jsonl_is_the_default_output(demo, tmp_path):
    _, demo_tmp = demo          # the same config as the demo's run (its charts in its temporary directory)
    result = subprocess.run([sys.executable, "-m", "bot.cli", "simulate", "--config",
                             str(demo_tmp / "simulate-config.yaml"), "--script",
                             "examples/demo.jsonl", "--format", "jsonl"], cwd=ROOT, capture_output=True,
                            encoding="utf-8", timeout=300,
                            env={k: v for k, v in os.environ.items() if not k.startswith(("QUNBOT_", "WECHATY_"))})
    assert result.returncode == 0 and result.stdout == demo[0].stdout


# ---- two weeks with a digest -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digest_weeks(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("digest")
    rows = rows_of(run_simulate(ROOT / "examples" / "digest.jsonl", tmp_path, tmpdir=tmp_path))
    return [r for r in rows if r["type"] == "say"]


def test_digest_example_drafts_in_private_publishes_once_and_the_job_publishes_the_second_week(digest_weeks):
    draft = [r for r in digest_weeks if r.get("user") == "u3" and r["text"].startswith("📝 周报草稿")]
    assert len(draft) == 2 and "【5】🙏 感谢李四的老带新方案" in draft[1]["text"] and "已删掉：第 3 节" in draft[1]["text"]
    [first, reread] = [r for r in digest_weeks if r["text"].startswith("📰 增长学习社 1 群 周报 第 1 期 · 11.23–11.29")]
    assert first["room"] == "r1" and first["at"] == "2026-11-27T10:10:00+08:00" and reread["user"] == "u2"
    assert "⭐ A1 李四（收到 30 分）📌入选周报" in first["text"] and "example.org" not in first["text"]
    second = _one(digest_weeks, "📰 增长学习社 1 群 周报 第 2 期 · 11.30–12.6")
    assert second["at"] == "2026-12-06T20:00:00+08:00" and second["text"].endswith("（本期由定时任务自动发布）")
    assert "还没有最佳回答。" in second["text"] and "💬 讨论：活跃度" in second["text"]
    assert "1. 李四 90 分（打赏 30 · 最佳 1 · 帮助 1 人 · 入选 1）" in _one(digest_weeks, "🏆 上周分享排行（11.23–11.29）")["text"]
    _one(digest_weeks, "📌 第 1 期周报 更正 1：A1 的方案来自李四的家长群实践，不是王五。")
    assert reread["text"] == first["text"] + "\n更正 1（12.7）：A1 的方案来自李四的家长群实践，不是王五。"
