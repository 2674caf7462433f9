"""Chat as a learning community's group writes it: short Chinese messages about growth, operations and careers,
with fillers, questions, emoji codes and the odd English term."""
from __future__ import annotations

import random

OPENERS = ["", "", "", "我觉得", "其实", "说实话", "请教一下，", "有没有人知道", "同意，", "哈哈，", "刚才那个", "补充一点：",
           "我们公司", "之前我们团队", "有个问题想问下大家，", "确实，", "楼上说得对，", "分享一个案例：", "最近在看", "老师好，"]
TOPICS = ["用户增长", "私域流量", "社群运营", "转化率", "次日留存", "拉新", "复购", "小红书投放", "抖音直播", "视频号",
          "公众号涨粉", "裂变活动", "用户画像", "AB测试", "漏斗分析", "获客成本", "直播带货", "客单价", "GMV", "ROI",
          "内容营销", "品牌定位", "SEO", "数据分析", "产品设计", "招聘", "融资", "供应链", "出海", "SaaS续费率",
          "会员体系", "积分商城", "KOC种草", "私域社群的活跃度", "大促", "渠道分销", "北极星指标", "增长模型", "用户访谈",
          "冷启动"]
PREDICATES = ["怎么做比较好", "最近效果不太好", "这个月涨了不少", "成本越来越高了", "还是要看数据", "关键是找到对的人",
              "需要长期投入", "我们试过，效果一般", "可以先小规模测试", "最好先做用户访谈", "老板天天在催",
              "预算砍了一半", "有没有靠谱的服务商推荐", "跟行业平均比怎么样", "是不是被高估了", "今年会更难做",
              "核心还是产品力", "团队里没人懂", "要和销售一起配合", "用飞书表格管起来挺方便"]
TAILS = ["", "", "。", "？", "！", "，大家怎么看？", "，求推荐", "，感谢分享", "[捂脸]", "[强]", "/::)", "～", "，学到了",
         "，周会上再聊"]
SHORT = ["收到", "好的", "+1", "学习了", "哈哈哈", "谢谢老师", "早上好", "晚安", "赞", "同问", "mark", "有道理"]


def message(rng: random.Random) -> str:
    """One chat message: most are a sentence or two, some a short reaction."""
    if rng.random() < 0.15:
        return rng.choice(SHORT)
    parts = [rng.choice(OPENERS) + rng.choice(TOPICS) + rng.choice(PREDICATES) + rng.choice(TAILS)]
    if rng.random() < 0.3:
        parts.append(rng.choice(TOPICS) + rng.choice(PREDICATES) + rng.choice(TAILS))
    return "".join(parts)


def messages(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [message(rng) for _ in range(n)]
