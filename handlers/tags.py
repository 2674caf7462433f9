"""Tags: derived from profiles (the jieba terms of 擅长, 行业 and 职位) and given by moderators; /找人 #标签 finds
the members who carry one."""
from __future__ import annotations

import re
from collections import defaultdict

from sqlalchemy import func, select

from bot.cleaning import clean
from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.roles import Role
from bot.router import Router
from bot.text import too_long
from models import Member, MemberTag, Profile, ProfileTerm

router = Router()

TAG_LIMIT = 20                      # characters of one tag
DERIVED_FIELDS = ("skills", "industry", "title")
SHOWN = 10                          # members listed by a tag search
_WORDLIKE = re.compile(r"\w", re.U)


def parse_tag(ctx: BaseCtx, raw: str) -> str:
    """A tag as stored and searched: without its #, cleaned, lower case; CommandError when empty or too long."""
    tag = clean(raw, multiline=False).strip().lstrip("#＃").strip().lower()
    if not tag or not _WORDLIKE.search(tag):
        raise CommandError("tag.empty")
    if too_long(tag, TAG_LIMIT) or any(c.isspace() for c in tag):
        raise CommandError("tag.too_long", limit=TAG_LIMIT, tag=tag[:TAG_LIMIT])
    return tag


def _derived(term: str) -> bool:
    """A profile term worth showing as a tag: a word of two or more characters (jieba's single characters and
    punctuation are not)."""
    return len(term) >= 2 and bool(_WORDLIKE.search(term))


async def tags_of(ctx: BaseCtx, member_ids: list[int], *, derived: bool = True) -> dict[int, list[str]]:
    """Each member's tags: the moderators' first, then (unless not `derived`) those derived from the profile."""
    found: dict[int, list[str]] = defaultdict(list)
    for member_id, tag in await ctx.db.execute(select(MemberTag.member_id, MemberTag.tag).where(
            MemberTag.member_id.in_(member_ids)).order_by(MemberTag.member_id, MemberTag.added_at, MemberTag.tag)):
        found[member_id].append(tag)
    if not derived:
        return found
    for member_id, term in await ctx.db.execute(select(ProfileTerm.member_id, ProfileTerm.term).where(
            ProfileTerm.member_id.in_(member_ids), ProfileTerm.field.in_(DERIVED_FIELDS))
            .order_by(ProfileTerm.member_id, ProfileTerm.exact.desc(), ProfileTerm.term)):
        if _derived(term) and term not in found[member_id]:
            found[member_id].append(term)
    return found


async def tagged(ctx: BaseCtx, tag: str) -> list[Member]:
    """The members carrying `tag` (given by a moderator, or in their profile's 擅长, 行业 or 职位), by name."""
    manual = select(MemberTag.member_id).where(MemberTag.community_id == ctx.community.id, MemberTag.tag == tag)
    derived = (select(ProfileTerm.member_id).join(Profile, Profile.member_id == ProfileTerm.member_id)
               .where(ProfileTerm.community_id == ctx.community.id, ProfileTerm.term == tag,
                      ProfileTerm.field.in_(DERIVED_FIELDS)))
    ids = manual.union(derived).subquery()
    rows = await ctx.db.scalars(select(Member).where(Member.id.in_(select(ids.c.member_id)),
                                                     Member.deleted_at.is_(None))
                                .order_by(func.lower(Member.display_name), Member.id))
    return list(rows)


async def find_by_tag(ctx: Ctx, raw: str) -> None:
    """/找人 #标签: the members with that tag and each one's tags."""
    tag = parse_tag(ctx, raw)
    members = await tagged(ctx, tag)
    if not members:
        raise CommandError("tag.none", tag=tag)
    shown = members[:SHOWN]
    tags = await tags_of(ctx, [m.id for m in shown])
    lines = [ctx.t("tag.found", count=len(members), tag=tag)]
    lines += [ctx.t("tag.line", n=i, name=m.display_name, tags=" ".join(f"#{t}" for t in tags[m.id][:6]))
              for i, m in enumerate(shown, 1)]
    if len(members) > len(shown):
        lines.append(ctx.t("who.more", count=len(members) - len(shown)))
    await ctx.reply_text("\n".join(lines))


async def _target(ctx: Ctx) -> Member:
    targets = await ctx.mentioned_members()
    if len(targets) != 1:
        raise CommandError("tag.usage")
    return targets[0]


@router.command("tag", aliases=("标签",), role=Role.MODERATOR)
async def tag(ctx: Ctx) -> None:
    """Give a member tags (`/标签 @x 标签 ...`), or list their tags (`/标签 @x`)."""
    target = await _target(ctx)
    words = ctx.args_without_mentions.split()
    if not words:
        shown = (await tags_of(ctx, [target.id]))[target.id]
        key = "tag.list" if shown else "tag.list_none"
        await ctx.reply(key, name=target.display_name, tags=" ".join(f"#{t}" for t in shown))
        return
    new = list(dict.fromkeys(parse_tag(ctx, w) for w in words))
    have = set(await ctx.db.scalars(select(MemberTag.tag).where(MemberTag.member_id == target.id)))
    added = [t for t in new if t not in have]
    if not added:
        raise CommandError("tag.already", name=target.display_name, tags=" ".join(f"#{t}" for t in new))
    ctx.db.add_all(MemberTag(member_id=target.id, tag=t, community_id=ctx.community.id, added_by=ctx.sender_id,
                             added_at=ctx.now) for t in added)
    await ctx.reply("tag.added", name=target.display_name, tags=" ".join(f"#{t}" for t in added))


@router.subcommand("tag", "remove", aliases=("删", "删除", "delete"), role=Role.MODERATOR)
async def tag_remove(ctx: Ctx) -> None:
    """Take a tag a moderator gave back (`/标签 删 @x 标签`)."""
    target = await _target(ctx)
    words = ctx.args_without_mentions.split()
    if len(words) != 1:
        raise CommandError("tag.remove_usage")
    name = parse_tag(ctx, words[0])
    given = await ctx.db.get(MemberTag, (target.id, name))
    if given is None:
        raise CommandError("tag.not_given", name=target.display_name, tag=name)
    await ctx.db.delete(given)
    await ctx.reply("tag.removed", name=target.display_name, tag=name)
