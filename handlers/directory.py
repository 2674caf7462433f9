"""The directory: who knows what (jieba-tokenised search over profiles) and one member's card."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, select

from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.router import Router
from bot.text import cut_async
from handlers import privacy, tags
from handlers.profile import render_fields
from models import Member, Profile, ProfileTerm

router = Router()

# How much a hit in each field counts; an exact item ("擅长=增长" searched as 增长) counts three times more.
WEIGHTS = {"skills": 5, "title": 3, "industry": 3, "interests": 2, "needs": 2, "path": 1, "city": 1}
EXACT_FACTOR = 3
TOP = 5


MAX_WORDS = 8


@dataclass
class Hit:
    member_id: int
    score: int = 0
    exact_skills: int = 0
    words_matched: int = 0
    why: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


async def search(ctx: BaseCtx, query: str, limit: int = TOP) -> tuple[list[Hit], int]:
    """The best `limit` consented profiles for the query words, and how many matched in all.

    Per member and query word, the best single hit counts (field weight, times EXACT_FACTOR when the word is a
    whole item); members matching more words rank first, then more exact 擅长 items, then the score. The
    aggregation runs in the database, so a common word across thousands of profiles stays cheap.
    """
    words = list(dict.fromkeys(w.lower() for w in query.split()))[:MAX_WORDS]
    variants = [(word, {word, *await cut_async(word)}) for word in words]
    all_terms = set().union(*(forms for _, forms in variants)) if variants else set()
    if not all_terms:
        return [], 0
    t = ProfileTerm
    weight = case(*((t.field == f, w) for f, w in WEIGHTS.items()), else_=0)
    per_word, exact_per_word = [], []
    for i, (word, forms) in enumerate(variants):
        whole = and_(t.exact.is_(True), t.term == word)
        per_word.append(func.max(case((t.term.in_(forms), weight * case((whole, EXACT_FACTOR), else_=1)),
                                      else_=0)).label(f"s{i}"))
        exact_per_word.append(func.max(case((and_(whole, t.field == "skills"), 1), else_=0)).label(f"e{i}"))
    hits = (select(t.member_id, *per_word, *exact_per_word)
            .where(t.community_id == ctx.community.id, t.term.in_(all_terms))
            .group_by(t.member_id).subquery())
    s_cols = [hits.c[f"s{i}"] for i in range(len(variants))]
    score = sum(s_cols[1:], s_cols[0])
    matched = sum((case((c > 0, 1), else_=0) for c in s_cols[1:]), case((s_cols[0] > 0, 1), else_=0))
    exact = sum((hits.c[f"e{i}"] for i in range(1, len(variants))), hits.c["e0"])
    rows = (await ctx.db.execute(
        select(hits.c.member_id, score, matched, exact, func.count().over())
        .order_by(matched.desc(), exact.desc(), score.desc(), hits.c.member_id).limit(limit)
    )).all()
    if not rows:
        return [], 0
    found = {member_id: Hit(member_id, int(sc), int(ex), int(wm)) for member_id, sc, wm, ex, _ in rows}
    for member_id, fld, term in await ctx.db.execute(
            select(t.member_id, t.field, t.term).where(t.member_id.in_(found), t.term.in_(all_terms))
            .order_by(t.member_id, t.field, t.term)):
        found[member_id].why[fld].append(term)
    return [found[member_id] for member_id, *_ in rows], int(rows[0][4])


def _why(ctx: Ctx, hit: Hit) -> str:
    parts = [ctx.t("who.why_part", field=ctx.t(f"field.{fld}"), terms=ctx.t("common.list_sep").join(terms[:3]))
             for fld in WEIGHTS if (terms := hit.why.get(fld))]
    return ctx.t("who.why_sep").join(parts[:3])


def _headline(ctx: Ctx, member: Member, profile: Profile, show_private: bool) -> str:
    bits = [b for b in (profile.title, profile.city, profile.industry) if b]
    if show_private:
        bits += [b for b in (profile.real_name, profile.company) if b]
    return ctx.t("who.headline", name=member.display_name, about=" · ".join(bits)) if bits else member.display_name


@router.command("who", aliases=("找人", "谁懂"))
async def who(ctx: Ctx) -> None:
    """Search the directory by expertise, industry, role, needs and interests; or show one member's card."""
    targets = await ctx.mentioned_members()
    show_private = await privacy.may_see_private(ctx)
    if targets:
        cards = [await _card(ctx, m, show_private) for m in targets]
        await ctx.reply_text("\n\n".join(cards))
        return
    query = ctx.args_without_mentions
    if not query:
        raise CommandError("who.usage")
    if query.startswith(("#", "＃")):
        await tags.find_by_tag(ctx, query)
        return
    if len(query) > 50:
        raise CommandError("who.too_long", limit=50)
    shown, total = await search(ctx, query)
    if not shown:
        raise CommandError("who.none", query=query)
    members = {m.id: m for m in await ctx.db.scalars(select(Member).where(Member.id.in_([h.member_id for h in shown])))}
    profiles = {p.member_id: p for p in await ctx.db.scalars(
        select(Profile).where(Profile.member_id.in_([h.member_id for h in shown])))}
    lines = [ctx.t("who.found", count=total, query=query)]
    for i, hit in enumerate(shown, 1):
        lines.append(ctx.t("who.line", n=i, who=_headline(ctx, members[hit.member_id], profiles[hit.member_id],
                                                          show_private), why=_why(ctx, hit)))
    if total > len(shown):
        lines.append(ctx.t("who.more", count=total - len(shown)))
    lines.append(ctx.t("who.hint"))
    await ctx.reply_text("\n".join(lines))


async def _card(ctx: Ctx, member: Member, show_private: bool) -> str:
    profile = await ctx.db.get(Profile, member.id)
    if profile is None:
        return ctx.t("who.no_profile", name=member.display_name)
    mine = member.id == ctx.member.id and ctx.is_private
    card = ctx.t("who.card", name=member.display_name,
                 fields=render_fields(ctx, profile.fields(), private=show_private or mine))
    # The moderators' tags: those derived from the profile are its fields, shown above.
    shown = (await tags.tags_of(ctx, [member.id], derived=False))[member.id]
    return card + "\n" + ctx.t("who.tags", tags=" ".join(f"#{t}" for t in shown)) if shown else card
