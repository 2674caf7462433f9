"""The words a period's chat was about, counted from the terms kept with each message."""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from bot.keywords import period_keywords, top_terms
from tests.conftest import START


def test_a_word_counts_once_per_message_and_stopwords_single_characters_and_numbers_do_not():
    kept = ["我们 的 私域 私域 私域 转化率 2026", "私域 怎么 做 增长", "增长 的 转化率", "转化率 a"]
    assert top_terms(kept) == [("转化率", 3), ("增长", 2), ("私域", 2)]


def test_ties_are_broken_alphabetically_and_the_list_is_cut_at_n():
    assert top_terms(["乙 甲 丙丁 甲乙", "丙丁 甲乙"], n=1) == [("丙丁", 2)]
    assert top_terms([]) == []


async def test_the_period_s_kept_chat_gives_its_keywords(chat):
    await chat.say("最近私域的转化率不太好", "u1")
    await chat.say("私域流量怎么做增长？", "u2")
    await chat.say("转化率还是要看用户增长", "u3")
    await chat.say("私域和增长都很重要", "u1", at=START + timedelta(days=8))   # next week
    async with chat.app.sessions() as db:
        week = await period_keywords(db, "growth", START - timedelta(hours=9), START + timedelta(days=7) -
                                     timedelta(hours=9))
        other_group = await period_keywords(db, "growth", START - timedelta(days=1), START + timedelta(days=7),
                                            room_id="r9")
    assert week[:3] == [("增长", 2), ("私域", 2), ("转化率", 2)]
    assert other_group == []


def test_jieba_loads_its_dictionary_without_pkg_resources():
    """pkg_resources alone costs ~10 MB of the memory budget; jieba reads its files directly without it."""
    script = ("import sys; from bot.text import warm_up, words; warm_up(); "
              "print('pkg_resources' in sys.modules, words(['我们在上海做增长'])[0])")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == ["False", "我们", "在", "上海", "做", "增长"]
