"""Profiles: one-line and guided signup with explicit consent, view, edit, delete; nickname suggestion."""
from __future__ import annotations

import re
import string
from typing import Any

from sqlalchemy import delete

from bot.cleaning import clean
from bot.config import NICKNAME_FIELDS
from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.events import Capability, ChatRef
from bot.flows import SKIP_WORDS, flow_chat, flow_expired, flow_timeout, load_flow, open_flow, tell
from bot.history import delete_messages
from bot.router import Router
from bot.text import clip, cut_async, items, too_long
from handlers import privacy
from models import ActivityDay, ArchiveSetting, Flow, Member, MemberTag, Profile, ProfileTerm
from models.ledger import hand_over_allowance
from models.profile import PROFILE_FIELDS

router = Router()

# Accepted keys (Chinese and English) for each profile field.
FIELD_KEYS: dict[str, str] = {
    "姓名": "real_name", "name": "real_name", "realname": "real_name",
    "公司": "company", "company": "company",
    "城市": "city", "city": "city",
    "职位": "title", "title": "title", "role": "title", "job": "title",
    "行业": "industry", "industry": "industry",
    "发展路径": "path", "路径": "path", "path": "path", "career": "path", "career path": "path",
    "擅长": "skills", "skills": "skills", "expertise": "skills",
    "诉求": "needs", "needs": "needs", "looking for": "needs",
    "兴趣": "interests", "interests": "interests",
}
LIMITS = {"real_name": 20, "company": 40, "city": 20, "title": 30, "industry": 30, "path": 100, "skills": 100,
          "needs": 100, "interests": 100}
GUIDED_ORDER = ("city", "title", "industry", "path", "skills", "needs", "interests", "real_name", "company")
SEARCHABLE = ("skills", "title", "industry", "interests", "needs", "path", "city")
_PAIR_SPLIT = re.compile(r"[;；\n]+")
_KEY_VALUE = re.compile(r"\s*([^=＝:：]+?)\s*[=＝:：]\s*(.*)\Z", re.S)


def check_value(ctx: BaseCtx, field: str, value: str) -> str:
    """One field's value: one line, something visible, within the field's limit."""
    label = ctx.t(f"field.{field}")
    if "\n" in value.strip():
        raise CommandError("signup.one_line", field=label)
    value = clean(value).strip()
    if not value:
        raise CommandError("signup.empty", field=label)
    if too_long(value, LIMITS[field]):
        raise CommandError("signup.too_long", field=label, limit=LIMITS[field])
    return value


def parse_form(ctx: BaseCtx, text: str, *, echo: bool = True) -> dict[str, str]:
    """'城市=北京; 职位=产品经理' -> {'city': '北京', 'title': '产品经理'}; CommandError on any bad pair, quoting it
    unless `echo` is off (a large group: the part may be someone's 姓名 or 公司)."""
    fields: dict[str, str] = {}
    parts = [part for part in _PAIR_SPLIT.split(text) if part.strip()]
    for n, part in enumerate(parts, 1):
        m = _KEY_VALUE.match(part)
        if not m and not echo:
            raise CommandError("signup.bad_pair_n", n=n)
        if not m:
            raise CommandError("signup.bad_pair", part=part.strip()[:30])
        key = m.group(1).strip().lower()
        field = FIELD_KEYS.get(key)
        if field is None:
            raise CommandError("signup.unknown_key", field=clip(m.group(1).strip()), keys=key_list(ctx))
        fields[field] = check_value(ctx, field, m.group(2))
    if not fields:
        raise CommandError("signup.usage")
    return fields


def key_list(ctx: BaseCtx) -> str:
    return ctx.t("common.list_sep").join(ctx.t(f"field.{f}") for f in PROFILE_FIELDS)


def nickname_uses(fmt: str) -> set[str]:
    """The profile fields a nickname format shows."""
    return {NICKNAME_FIELDS[name] for _, name, _, _ in string.Formatter().parse(fmt) if name}


def suggested_nickname(fmt: str, member: Member, fields: dict[str, str]) -> str:
    values = {
        "city": fields.get("city", ""), "industry": fields.get("industry", ""), "title": fields.get("title", ""),
        "real_name": fields.get("real_name", ""),
        # A nickname already in the suggested form keeps only its last part.
        "nickname": re.split(r"[-_|·]", member.display_name)[-1],
    }
    text = fmt.format_map({key: values[field] for key, field in NICKNAME_FIELDS.items()})
    text = re.sub(r"([-_|·])(?:\s*[-_|·])+", r"\1", text)
    return text.strip(" -_|·") or member.display_name


def render_fields(ctx: BaseCtx, fields: dict[str, str], *, private: bool = True) -> str:
    shown = [f for f in PROFILE_FIELDS if fields.get(f) and (private or f not in privacy.PRIVATE_FIELDS)]
    return "\n".join(ctx.t("common.field_line", label=ctx.t(f"field.{f}"), value=fields[f]) for f in shown)


async def consent_text(ctx: Ctx, fields: dict[str, str]) -> str:
    """What will be shared with whom. In a group at the privacy threshold 姓名 and 公司 are not repeated: it says
    they were received."""
    shares = await privacy.shares_everything(ctx)
    scope = "signup.scope_small" if shares else "signup.scope_large"
    shown = render_fields(ctx, fields, private=ctx.is_private or shares)
    held_back = [f for f in privacy.PRIVATE_FIELDS if fields.get(f)] if not (ctx.is_private or shares) else []
    if held_back:
        note = ctx.t("signup.private_received", fields=ctx.t("common.list_sep").join(ctx.t(f"field.{f}")
                                                                                     for f in held_back))
        shown = f"{shown}\n{note}" if shown else note
    return ctx.t("signup.consent", fields=shown, community=ctx.community.name,
                 scope=ctx.t(scope, threshold=ctx.ccfg.privacy_threshold))


async def reply_with_nickname(ctx: Ctx, key: str, profile: dict[str, str], **params: Any) -> None:
    """Reply `key` with the suggested group nickname as its {nickname} line. A nickname that shows 姓名 is not
    posted in a group at the privacy threshold: it follows in private where the platform can, else the line says
    where to find it."""
    nickname = suggested_nickname(ctx.ccfg.nickname_format, ctx.member, profile)
    private = [f for f in nickname_uses(ctx.ccfg.nickname_format) & set(privacy.PRIVATE_FIELDS) if profile.get(f)]
    if ctx.is_private or not private or await privacy.shares_everything(ctx):
        await ctx.respond(key, nickname=ctx.t("signup.nickname", nickname=nickname), **params)
    elif ctx.can(Capability.CAN_DM):
        await ctx.respond(key, nickname=ctx.t("signup.nickname_sent"), **params)
        await ctx.dm(ctx.sender_id, "signup.nickname", nickname=nickname)
    else:
        await ctx.respond(key, nickname=ctx.t("signup.nickname_ask"), **params)


@router.command("signup", aliases=("登记", "报名"), multiline=True)
async def signup(ctx: Ctx) -> None:
    """One-line signup (fields given) or a guided one (no fields); both end with the consent step."""
    if ctx.args:
        fields = parse_form(ctx, ctx.args, echo=ctx.is_private or await privacy.shares_everything(ctx))
        await open_flow(ctx, ctx.chat, "signup", "consent", {"fields": fields})
        await ctx.respond_text(await consent_text(ctx, fields))
        return
    chat = flow_chat(ctx)
    order = await _guided_order(ctx, chat)
    await open_flow(ctx, chat, "signup", "ask", {"fields": {}, "field": order[0]})
    if not ctx.is_private and chat != ctx.chat:
        await ctx.respond("signup.moved_to_dm")
    intro = ctx.t("signup.guided_intro", total=len(order), minutes=ctx.config.signup_timeout_minutes)
    if len(order) < len(GUIDED_ORDER):
        intro += ctx.t("signup.private_later")
    await tell(ctx, chat, intro + "\n" + _question(ctx, order, order[0]))


async def _guided_order(ctx: Ctx, chat: ChatRef) -> list[str]:
    """The fields a guided signup asks for in `chat`: in a group at the privacy threshold (the fallback where
    the bot cannot talk in private) not 姓名 and 公司. Decided at every step: a group can grow meanwhile."""
    if chat.room_id is not None and not await privacy.shares_everything(ctx):
        return [f for f in GUIDED_ORDER if f not in privacy.PRIVATE_FIELDS]
    return list(GUIDED_ORDER)


def _question(ctx: BaseCtx, order: list[str], field: str) -> str:
    return ctx.t("signup.ask", n=order.index(field) + 1, total=len(order), field=ctx.t(f"field.{field}"),
                 example=ctx.t(f"example.{field}"), limit=LIMITS[field])


@router.on_text
async def guided_answer(ctx: Ctx) -> bool:
    """A plain message in the chat where the member's signup flow runs is the answer to its question."""
    flow = await load_flow(ctx, ctx.sender_id)
    if flow is None or flow.kind != "signup" or flow.chat_key != ctx.chat.key:
        return False
    chat = ctx.chat
    if flow_expired(ctx, flow):
        await ctx.db.delete(flow)
        await tell(ctx, chat, ctx.t("signup.expired"))
        return True
    if flow.step == "consent":
        if not ctx.is_private:    # in a group, chat while consent is pending is just chat
            return False
        await tell(ctx, chat, ctx.t("signup.awaiting_consent"))
        return True
    data = dict(flow.data)
    fields = dict(data["fields"])
    asked = data.get("field") or GUIDED_ORDER[data.get("index", 0)]
    answer = ctx.event.text.strip()
    if answer.lower() not in SKIP_WORDS:
        fields[asked] = check_value(ctx, asked, answer)
    flow.expires_at = ctx.now + flow_timeout(ctx)
    order = await _guided_order(ctx, chat)
    later = [f for f in GUIDED_ORDER[GUIDED_ORDER.index(asked) + 1:] if f in order]
    if later:
        flow.data = {"fields": fields, "field": later[0]}
        await tell(ctx, chat, _question(ctx, order, later[0]))
        return True
    if not fields:
        await ctx.db.delete(flow)
        await tell(ctx, chat, ctx.t("signup.nothing_given"))
        return True
    flow.step, flow.data = "consent", {"fields": fields}
    await tell(ctx, chat, await consent_text(ctx, fields))
    return True


@router.command("agree", aliases=("同意",), hidden=True)
async def agree(ctx: Ctx) -> None:
    """Confirm the consent step: the profile enters the directory."""
    flow = await load_flow(ctx, ctx.sender_id)
    if flow is None or flow.kind != "signup":
        raise CommandError("agree.nothing")
    if flow_expired(ctx, flow):
        await ctx.db.delete(flow)          # kept: a reply, not an error, so the deletion commits
        await ctx.respond("signup.expired")
        return
    if flow.step != "consent":
        raise CommandError("agree.not_yet")
    fields = dict(flow.data["fields"])
    await ctx.db.delete(flow)
    await save_profile(ctx, ctx.member, fields, replace=True)
    await reply_with_nickname(ctx, "signup.done", fields)


@router.command("cancel", aliases=("取消",), hidden=True)
async def cancel(ctx: Ctx) -> None:
    """Abandon the running multi-step flow."""
    flow = await load_flow(ctx, ctx.sender_id)
    if flow is None:
        raise CommandError("cancel.nothing")
    await ctx.db.delete(flow)
    await ctx.respond("cancel.ok")


async def save_profile(ctx: BaseCtx, member: Member, fields: dict[str, str], *, replace: bool) -> Profile:
    profile = await ctx.db.get(Profile, member.id)
    if profile is None:
        profile = Profile(member_id=member.id, community_id=member.community_id, consented_at=ctx.now,
                          updated_at=ctx.now)
        ctx.db.add(profile)
    for field in PROFILE_FIELDS:
        if field in fields:
            setattr(profile, field, fields[field])
        elif replace:
            setattr(profile, field, None)
    if replace:
        profile.consented_at = ctx.now
    profile.updated_at = ctx.now
    await ctx.db.flush()
    await index_profile(ctx, profile)
    return profile


async def index_profile(ctx: BaseCtx, profile: Profile) -> None:
    """Rebuild the search terms of one profile: each listed item exactly, plus its jieba tokens."""
    await ctx.db.execute(delete(ProfileTerm).where(ProfileTerm.member_id == profile.member_id))
    terms: dict[tuple[str, str], bool] = {}
    for field in SEARCHABLE:
        value = getattr(profile, field)
        if not value:
            continue
        for item in items(value):
            terms[(field, item[:100])] = True
            for token in await cut_async(item):
                terms.setdefault((field, token[:100]), False)
    ctx.db.add_all(ProfileTerm(member_id=profile.member_id, field=f, term=t, community_id=profile.community_id,
                               exact=exact) for (f, t), exact in terms.items())


@router.command("profile", aliases=("资料", "我的资料"), multiline=True)
async def profile(ctx: Ctx) -> None:
    """View your profile, edit fields (key=value), or delete all your data."""
    args = ctx.args.strip()
    words = args.lower().split()
    if words and words[0] in ("delete", "删除"):
        if len(words) == 2 and words[1] in ("confirm", "确认"):
            await delete_member_data(ctx, ctx.member)
            await ctx.respond("profile.deleted")
        elif len(words) == 1:
            await ctx.respond("profile.delete_confirm")
        else:
            raise CommandError("profile.usage")
        return
    current = await ctx.db.get(Profile, ctx.member.id)
    if not args:
        if current is None:
            raise CommandError("profile.none")
        private = ctx.is_private or await privacy.shares_everything(ctx)
        text = ctx.t("profile.show", fields=render_fields(ctx, current.fields(), private=private))
        if not ctx.is_private and not private:
            text += "\n" + ctx.t("profile.more_in_private")
        if ctx.is_private and nickname_uses(ctx.ccfg.nickname_format) & set(privacy.PRIVATE_FIELDS):
            # (not posted in large groups: members are sent here to see it)
            nickname = suggested_nickname(ctx.ccfg.nickname_format, ctx.member, current.fields())
            text += "\n" + ctx.t("signup.nickname", nickname=nickname)
        await ctx.respond_text(text)
        return
    if current is None:
        raise CommandError("profile.none")
    fields = parse_form(ctx, args, echo=ctx.is_private or await privacy.shares_everything(ctx))
    await save_profile(ctx, ctx.member, fields, replace=False)
    merged = current.fields()
    await reply_with_nickname(ctx, "profile.updated", merged,
                              fields=ctx.t("common.list_sep").join(ctx.t(f"field.{f}") for f in fields))


async def delete_member_data(ctx: BaseCtx, member: Member) -> None:
    """Remove the profile and personal fields; the member row stays under a stable pseudonym for ledgers."""
    await ctx.member_forgotten(member)      # e.g. out of the duty rotation, handing over if on duty
    await ctx.db.execute(delete(ProfileTerm).where(ProfileTerm.member_id == member.id))
    await ctx.db.execute(delete(Profile).where(Profile.member_id == member.id))
    await ctx.db.execute(delete(MemberTag).where(MemberTag.member_id == member.id))
    await ctx.db.execute(delete(ArchiveSetting).where(ArchiveSetting.member_id == member.id))
    await ctx.db.execute(delete(Flow).where(Flow.community_id == member.community_id,
                                            Flow.user_id == member.user_id))
    user_id, name = member.user_id, member.display_name
    # What they said in the groups goes too, whether or not they ever signed up, and so does their activity.
    await delete_messages(ctx.db, member.community_id, user_id=user_id)
    await ctx.db.execute(delete(ActivityDay).where(ActivityDay.community_id == member.community_id,
                                                   ActivityDay.user_id == user_id))
    ctx.forget_chat(user_id=user_id)
    member.display_name = ctx.t("profile.pseudonym", n=member.id)
    member.user_id = f"deleted:{member.id}"
    # Who invited them stays (their referral counts for the inviter); the row is the pseudonym's now.
    member.deleted_at = ctx.now
    await ctx.db.flush()
    # They are still in the group: the roster knows them again as a new member, unlinked from the old row
    # (otherwise @-mentions say they are not in the group and private chat says they are not a member). Since
    # when the bot has known them stays: deleting data does not make a member an outsider to a challenge.
    fresh = Member(community_id=member.community_id, user_id=user_id, display_name=name,
                   first_seen_at=member.first_seen_at)
    ctx.db.add(fresh)
    await ctx.db.flush()
    await hand_over_allowance(ctx.db, member.community_id, member.id, fresh.id, ctx.week_start())
