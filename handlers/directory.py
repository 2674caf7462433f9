"""The directory: who knows what (jieba-tokenised search over profiles) and one member's card."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from bot.context import Ctx
from bot.errors import CommandError
from bot.router import Router
from handlers import privacy
from handlers.profile import render_fields
from handlers.text import cut_async
from models import Member, Profile, ProfileTerm

router = Router()

# How much a hit in each field counts; an exact item ("擅长=增长" searched as 增长) counts three times more.
WEIGHTS = {"skills": 5, "title": 3, "industry": 3, "interests": 2, "needs": 2, "path": 1, "city": 1}
EXACT_FACTOR = 3
TOP = 5


@dataclass
class Hit:
    member_id: int
    score: int = 0
    exact_skills: int = 0
    words_matched: int = 0
    why: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


async def search(ctx: Ctx, query: str) -> list[Hit]:
    """Rank consented profiles of the community against the query words."""
    words = [w.lower() for w in query.split() if w.strip()]
    variants: dict[str, set[str]] = {}
    for word in words:
        variants[word] = {word, *await cut_async(word)}
    all_terms = set().union(*variants.values()) if variants else set()
    if not all_terms:
        return []
    rows = (await ctx.db.execute(
        select(ProfileTerm.member_id, ProfileTerm.field, ProfileTerm.term, ProfileTerm.exact)
        .where(ProfileTerm.community_id == ctx.community.id, ProfileTerm.term.in_(all_terms))
    )).all()
    by_member: dict[int, list[tuple[str, str, bool]]] = defaultdict(list)
    for member_id, fld, term, exact in rows:
        by_member[member_id].append((fld, term, exact))
    hits: list[Hit] = []
    for member_id, terms in by_member.items():
        hit = Hit(member_id)
        for word, forms in variants.items():
            best, best_term = 0, None
            for fld, term, exact in terms:
                if term not in forms:
                    continue
                whole = exact and term == word
                value = WEIGHTS[fld] * (EXACT_FACTOR if whole else 1)
                if whole and fld == "skills":
                    hit.exact_skills += 1
                if value > best:
                    best, best_term = value, (fld, term)
                if term not in hit.why[fld]:
                    hit.why[fld].append(term)
            if best:
                hit.score += best
                hit.words_matched += 1
        hits.append(hit)
    hits.sort(key=lambda h: (-h.words_matched, -h.exact_skills, -h.score, h.member_id))
    return hits


def _why(ctx: Ctx, hit: Hit) -> str:
    parts = [f"{ctx.t(f'field.{fld}')}「{'、'.join(terms[:3])}」"
             for fld in WEIGHTS if (terms := hit.why.get(fld))]
    return "，".join(parts[:3])


def _headline(ctx: Ctx, member: Member, profile: Profile, show_private: bool) -> str:
    bits = [b for b in (profile.title, profile.city, profile.industry) if b]
    if show_private:
        bits += [b for b in (profile.real_name, profile.company) if b]
    return member.display_name + (f"（{' · '.join(bits)}）" if bits else "")


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
    if len(query) > 50:
        raise CommandError("who.too_long", limit=50)
    hits = await search(ctx, query)
    if not hits:
        raise CommandError("who.none", query=query)
    shown = hits[:TOP]
    members = {m.id: m for m in await ctx.db.scalars(select(Member).where(Member.id.in_([h.member_id for h in shown])))}
    profiles = {p.member_id: p for p in await ctx.db.scalars(
        select(Profile).where(Profile.member_id.in_([h.member_id for h in shown])))}
    lines = [ctx.t("who.found", count=len(hits), query=query)]
    for i, hit in enumerate(shown, 1):
        lines.append(ctx.t("who.line", n=i, who=_headline(ctx, members[hit.member_id], profiles[hit.member_id],
                                                          show_private), why=_why(ctx, hit)))
    if len(hits) > TOP:
        lines.append(ctx.t("who.more", count=len(hits) - TOP))
    lines.append(ctx.t("who.hint"))
    await ctx.reply_text("\n".join(lines))


async def _card(ctx: Ctx, member: Member, show_private: bool) -> str:
    profile = await ctx.db.get(Profile, member.id)
    if profile is None:
        return ctx.t("who.no_profile", name=member.display_name)
    mine = member.id == ctx.member.id and ctx.is_private
    return ctx.t("who.card", name=member.display_name,
                 fields=render_fields(ctx, profile.fields(), private=show_private or mine))
