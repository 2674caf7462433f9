"""Both locales say the same things: same keys, same placeholders, help for every command."""
from bot import i18n
from bot.app import ROUTERS


def test_locales_have_the_same_keys_and_placeholders():
    zh, en = i18n.catalog("zh_CN"), i18n.catalog("en")
    assert sorted(set(zh) ^ set(en)) == []
    mismatched = [k for k in zh if i18n.placeholders(zh[k]) != i18n.placeholders(en[k])]
    assert mismatched == []


def test_every_command_has_help_and_a_chinese_alias():
    for router in ROUTERS:
        for spec in router.commands:
            for locale in ("zh_CN", "en"):
                assert i18n.has(locale, f"help.{spec.name}"), (locale, spec.name)
            assert any("\u4e00" <= ch <= "\u9fff" for alias in spec.aliases for ch in alias), spec.name


def test_every_role_has_a_label():
    from bot.roles import Role

    for role in Role:
        assert i18n.t("zh_CN", f"role.{role.value}") and i18n.t("en", f"role.{role.value}")


def test_every_key_is_text():
    """YAML reads a bare on, off, yes or no as true or false: such a key would never be found."""
    for locale in ("zh_CN", "en"):
        assert [k for k in i18n.catalog(locale) if any(p in ("True", "False") for p in k.split("."))] == []
