"""Pages in Spanish, German, Indonesian and Korean come from our own catalogues, and
numbers, money and dates follow the chosen language."""

import re
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation

from activities.models import Deal, Stage
from activities.templatetags.salestrack import label, minutes, money
from metrics.periods import PeriodKind

LOCALE = Path(settings.BASE_DIR) / "locale"

# What the navigation must say in each language (written independently of the .po files).
NAVIGATION = {
    "es": {"Today": "Hoy", "Activities": "Actividades", "Sign out": "Cerrar sesión"},
    "de": {"Today": "Heute", "Activities": "Aktivitäten", "Sign out": "Abmelden"},
    "id": {"Today": "Hari ini", "Activities": "Aktivitas", "Sign out": "Keluar"},
    "ko": {"Today": "오늘", "Activities": "활동", "Sign out": "로그아웃"},
}


@pytest.fixture(autouse=True)
def _default_language_afterwards():
    """LocaleMiddleware leaves the request's language active in this thread; don't leak it."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _nav(content: str) -> str:
    match = re.search(r'<nav class="mainnav".*?</nav>', content, re.S)
    assert match, "the page has no main navigation"
    return match.group(0)


def _page_in(client, user, language, url_name="home"):
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client.get(reverse(url_name)).content.decode()


@pytest.mark.django_db
class TestTranslatedPages:
    @pytest.mark.parametrize("language", sorted(NAVIGATION))
    def test_the_navigation_is_translated(self, client, cast, language):
        english = _nav(_page_in(client, cast.rep_a1.user, "en"))
        content = _page_in(client, cast.rep_a1.user, language)
        nav = _nav(content)
        assert f'<html lang="{language}"' in content
        for source, translated in NAVIGATION[language].items():
            assert f">{translated}<" in nav or translated in content, (language, source)
        assert f">{NAVIGATION[language]['Activities']}<" in nav
        assert ">Activities<" in english
        assert ">Activities<" not in nav
        assert nav != english

    @pytest.mark.parametrize("language", sorted(NAVIGATION))
    def test_the_sign_in_page_is_translated(self, client, language):
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        content = client.get(reverse("login")).content.decode()
        assert f'<html lang="{language}"' in content
        assert "Log your day and follow your deals." not in content

    def test_a_german_form_shows_german_labels_and_service_errors(self, client, cast):
        client.force_login(cast.rep_a1.user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
        response = client.post(
            reverse("deal_create"),
            {
                "name": "X",
                "amount": "100",
                "revenue_type": "one_time",
                "opened_on": "2020-01-02",
                "expected_close_on": "2019-01-01",
            },
        )
        content = response.content.decode()
        assert "Erwarteter Abschluss" in content
        assert "Der erwartete Abschluss darf nicht vor der Eröffnung des Deals liegen." in content
        assert not Deal.objects.exists()

    def test_default_stage_and_type_names_are_translated_on_pages(self, client, cast):
        content = _page_in(client, cast.rep_a1.user, "es")
        assert ">Llamada<" in content  # the "Call" activity type in the quick-log form


class TestMoney:
    def test_it_formats_money_differently_in_german_and_english(self):
        with translation.override("en"):
            english = money(1234567.5)
        with translation.override("de"):
            german = money(1234567.5)
        assert english == f"1,234,567.50 {settings.SALESTRACK_CURRENCY}"
        assert german == f"1.234.567,50 {settings.SALESTRACK_CURRENCY}"
        assert english != german

    def test_it_keeps_cents_exact_and_shows_a_dash_for_nothing(self):
        with translation.override("en"):
            assert money(Decimal("0.10")) == f"0.10 {settings.SALESTRACK_CURRENCY}"
            assert money(None) == "—"
            assert money("not a number") == "—"

    def test_it_is_usable_in_a_template(self):
        with translation.override("de"):
            rendered = Template("{% load salestrack %}{{ amount|money }}").render(
                Context({"amount": Decimal("99.5")})
            )
        assert rendered == f"99,50 {settings.SALESTRACK_CURRENCY}"

    def test_dates_follow_the_language(self):
        template = Template('{{ day|date:"SHORT_DATE_FORMAT" }}')
        with translation.override("en"):
            english = template.render(Context({"day": date(2026, 3, 9)}))
        with translation.override("de"):
            german = template.render(Context({"day": date(2026, 3, 9)}))
        assert english == "03/09/2026"
        assert german == "09.03.2026"


class TestCatalogues:
    @pytest.mark.parametrize("language", sorted(NAVIGATION))
    def test_every_message_is_translated_and_none_is_fuzzy(self, language):
        text = (LOCALE / language / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
        assert "#, fuzzy" not in text
        # An empty msgstr that is not continued on the next line is an untranslated message.
        untranslated = re.findall(
            r'^msgid "(.*)"\n(?:msgid_plural .*\n)?msgstr(?:\[\d\])? ""\n(?!")', text, re.M
        )
        assert untranslated == []
        assert (LOCALE / language / "LC_MESSAGES" / "django.mo").exists()

    def test_the_catalogues_hold_every_message_of_the_code(self, tmp_path):
        """makemessages over a copy of the code adds nothing untranslated to any catalogue.

        The check above reads the .po files as they are; this one catches a message added to
        the code (or changed) whose catalogues were not brought up to date.
        """
        root = Path(settings.BASE_DIR)
        for name in ("activities", "metrics", "leaderboards", "salestrack", "templates", "locale"):
            shutil.copytree(
                root / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
            )
        shutil.copy(root / "manage.py", tmp_path / "manage.py")
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "--all", "--no-obsolete"],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
        behind = {}
        for language in sorted(NAVIGATION):
            text = (tmp_path / "locale" / language / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
            missing = re.findall(
                r'^msgid "(.*)"\n(?:msgid_plural .*\n)?msgstr(?:\[\d\])? ""\n(?!")', text, re.M
            )
            if missing or "#, fuzzy" in text:
                behind[language] = (len(missing), text.count("#, fuzzy"))
        assert behind == {}, f"run `make messages` and translate (untranslated, fuzzy): {behind}"

    @pytest.mark.parametrize("language", sorted(NAVIGATION))
    def test_model_choices_periods_and_language_names_are_translated(self, language):
        samples = [
            Stage.Kind.WON.label,
            Deal.RevenueType.RECURRING.label,
            Deal._meta.verbose_name_plural,
            PeriodKind.QUARTER.label,
        ]
        with translation.override("en"):
            english = [str(s) for s in samples] + [str(name) for _, name in settings.LANGUAGES]
        with translation.override(language):
            translated = [str(s) for s in samples] + [str(name) for _, name in settings.LANGUAGES]
        # Every sample changes, except a language's own name may coincide with another's.
        assert sum(a != b for a, b in zip(english, translated, strict=True)) >= len(english) - 1

    def test_durations_and_default_names_follow_the_language(self):
        with translation.override("ko"):
            assert minutes(90) == "1시간 30분"
            assert label("Won") == "수주"
            assert label("A custom stage") == "A custom stage"
        with translation.override("en"):
            assert minutes(45) == "45 min"
            assert label("") == ""
