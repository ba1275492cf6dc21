"""The demo organisation behind `manage.py seed_demo`: a service that writes it in bulk.

One `random.Random(seed)` drives every choice, in a fixed order, so the same
arguments on the same day give the same rows. Rows are built in memory and written
in bulk inside one transaction (`bulk_create`; the two big tables go through the imports'
RowWriter: COPY on PostgreSQL, its executemany lane on SQLite). The per-row services would be far too
slow for a year of a big team, so this module keeps their rules itself
(amount >= 0, closed_on >= opened_on, closed_on set iff the stage is won or lost,
durations 1-1440, nothing in the future, one target per owner and period, periods
given by their first day).

What counts as demo data, so that a second run replaces the first:

- users whose e-mail ends with ``@demo.salestrack.example``, their rep profiles and
  everything those reps own (deals with their stage changes, activities - also
  entries a visitor logged while signed in as a demo rep) and their targets;
- teams managed by a demo user or made of demo reps, unless a non-demo rep is in
  them, and the targets of those teams;
- territories, products and accounts whose name is in this module's catalogues,
  unless a non-demo row still refers to them (then they are kept and reused).

Timed rows (activities, stage changes) end yesterday: anything later today would
either lie in the future or depend on the time of day the seed ran.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from tqdm import tqdm

from metrics.models import ActivityTarget, Projection, Quota
from metrics.periods import Period, PeriodKind

from . import rules
from .access import ROLE_ADMIN, ROLE_MANAGER, ROLE_REP
from .imports.kinds import ActivitiesKind
from .imports.writer import RowWriter
from .models import (
    Account,
    Activity,
    ActivityType,
    Deal,
    DealStageChange,
    Product,
    Rep,
    RepAssignment,
    Source,
    Stage,
    Team,
    Territory,
)
from .services import user_set_role

DEMO_EMAIL_DOMAIN = "demo.salestrack.example"
DEMO_PASSWORD = "salestrack-demo"
MAX_REPS = 2000
MAX_DAYS = 3 * 366
BATCH_SIZE = 2000
CHANGE_FIELDS = ("deal_id", "from_stage_id", "to_stage_id", "changed_at", "by_id")

TERRITORIES = ["North America", "EMEA", "APAC", "LATAM"]
TEAM_NICKNAMES = ["Falcons", "Orcas", "Pumas", "Comets", "Pioneers", "Voyagers", "Summit", "Harbor"]

# name, category, list price, revenue type, popularity
PRODUCTS = [
    ("Insight Analytics Cloud", "Software", 12000, Deal.RevenueType.RECURRING, 9),
    ("Insight CRM Connector", "Software", 3500, Deal.RevenueType.RECURRING, 7),
    ("Pulse Mobile Suite", "Software", 6000, Deal.RevenueType.RECURRING, 6),
    ("Forecast Pro", "Software", 9000, Deal.RevenueType.RECURRING, 5),
    ("Edge Gateway X1", "Hardware", 2400, Deal.RevenueType.ONE_TIME, 6),
    ("Edge Sensor Pack", "Hardware", 650, Deal.RevenueType.ONE_TIME, 5),
    ("Data Vault Appliance", "Hardware", 18000, Deal.RevenueType.ONE_TIME, 2),
    ("Onboarding Package", "Services", 5000, Deal.RevenueType.CONTRACT, 4),
    ("Premium Support", "Services", 7500, Deal.RevenueType.CONTRACT, 4),
    ("Custom Integration", "Services", 15000, Deal.RevenueType.CONTRACT, 2),
    ("Training Workshop", "Services", 2000, Deal.RevenueType.ONE_TIME, 3),
]

ACCOUNT_PREFIXES = [
    "Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adventure Works", "Proseware",
    "Wingtip", "Lucerne", "Trey", "Coho", "Alpine Ski", "Blue Yonder", "Fourth Coffee", "Margie's",
    "Graphic Design", "Humongous", "Southridge", "Woodgrove", "Wide World", "Bellows", "Consolidated",
    "Datum", "Relecloud", "Lamna", "Nod", "Tasmanian", "Sunda", "Nusantara", "Han River", "Jeju",
    "Rheinland", "Alster", "Bodensee", "Andes", "Pampa", "Sierra Azul", "Costa Verde", "Aurora", "Meridian",
    "Polaris", "Cobalt", "Juniper", "Granite", "Silverline", "Bluebird", "Keystone", "Lighthouse",
    "Evergreen", "Redwood",
]  # fmt: skip
ACCOUNT_NOUNS = [
    "Logistics", "Health", "Foods", "Energy", "Retail", "Bank", "Insurance", "Motors", "Telecom",
    "Pharma", "Textiles", "Airlines", "Hotels", "Media", "Software", "Construction", "Mining",
    "Chemicals", "Shipping", "Robotics", "Labs", "Farms", "Furniture", "Electronics", "Brewing",
    "Outfitters", "Studios", "Partners", "Systems", "Holdings", "Water", "Steel", "Paper", "Glass",
    "Solar", "Medical", "Freight", "Markets", "Travel", "Education",
]  # fmt: skip
ACCOUNT_NAMES = [f"{prefix} {noun}" for prefix in ACCOUNT_PREFIXES for noun in ACCOUNT_NOUNS]
SEGMENTS = [
    (Account.Segment.SMB, 40, (1, 3)),
    (Account.Segment.MID_MARKET, 35, (2, 6)),
    (Account.Segment.ENTERPRISE, 15, (4, 14)),
    (Account.Segment.PUBLIC, 10, (2, 9)),
]
SECTORS = ["Manufacturing", "Retail", "Finance", "Healthcare", "Technology", "Public", "Energy", "Transport"]

FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Mia", "Lucas", "Grace", "Owen", "Chloe", "Daniel",
    "Lucía", "Mateo", "Sofía", "Diego", "Valentina", "Javier", "Carmen", "Pablo",
    "Lena", "Jonas", "Mia", "Felix", "Hannah", "Lukas", "Marie", "Paul", "Greta", "Moritz",
    "Putri", "Budi", "Sari", "Agus", "Dewi", "Rizky", "Ayu", "Fajar", "Indah", "Wahyu",
    "Ji-woo", "Min-jun", "Seo-yeon", "Do-hyun", "Ha-eun", "Jae-won", "Soo-ah", "Hyun-woo",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Brown", "Taylor", "Walker", "Clarke", "Hughes", "Bennett", "Parker", "Reid",
    "García", "Fernández", "López", "Martínez", "Romero", "Navarro", "Torres", "Ruiz",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann",
    "Santoso", "Wijaya", "Pratama", "Hidayat", "Saputra", "Lestari", "Kurniawan", "Nugroho",
    "Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon",
]  # fmt: skip

# Activity mix of an average rep: name -> (relative count, duration factors, share linked to a deal)
ACTIVITY_PROFILES = {
    "Call": (28, (0.4, 0.6, 1, 1, 1, 1.3, 2), 0.45),
    "Email": (24, (0.6, 1, 1, 1, 1.6, 2), 0.4),
    "Client meeting": (7, (0.5, 0.75, 1, 1, 1, 1.5), 0.8),
    "Demo": (4, (0.75, 1, 1, 1.3, 1.6), 0.9),
    "Sales prep": (9, (0.5, 1, 1, 1.5, 2), 0.35),
    "Internal meeting": (9, (0.5, 1, 1, 1, 2), 0.0),
    "Admin": (10, (0.5, 0.75, 1, 1.5, 2), 0.0),
    "Travel": (4, (0.5, 1, 1.5, 2, 3), 0.0),
    "Training": (2, (0.5, 1, 1, 2, 3), 0.0),
}
OUTCOMES = {
    "Call": ("Connected", "Left voicemail", "No answer", "Follow-up booked"),
    "Email": ("Sent", "Sent", "Replied"),
    "Client meeting": ("Next steps agreed", "Positive", "Needs follow-up", "Not a fit"),
    "Demo": ("Next steps agreed", "Positive", "Needs follow-up", "Not a fit"),
}
TARGET_TYPES = ["Call", "Client meeting", "Demo"]

DAY_START = 8 * 60  # minutes after midnight, local time
DAY_END = 18 * 60 + 30


class DemoRefused(Exception):
    """The demo would overwrite a production database."""


@dataclass(frozen=True)
class DemoSignIn:
    role: str
    username: str
    password: str


@dataclass(frozen=True)
class DemoSummary:
    reps: int
    teams: int
    activities: int
    deals: int
    days: int
    sign_ins: tuple[DemoSignIn, ...]


def demo_seed(
    *,
    reps: int = 24,
    days: int = 180,
    seed: int = 1,
    today: date | None = None,
    allow_production: bool = False,
    progress: TextIO | None = None,
    raw_inserts: bool | None = None,
) -> DemoSummary:
    """Replace the previous demo organisation with a new one over `days` days ending `today`.

    `progress`: a stream for a progress bar (e.g. sys.stderr), or None for none.

    `raw_inserts` picks how the two big tables are written on SQLite (RowWriter's executemany
    lane, the default there, or bulk_create). Both write the same rows.
    """
    if settings.SALESTRACK_ENV == "production" and not allow_production:
        raise DemoRefused(_("Refusing to write demo data into a production database."))
    if not 1 <= reps <= MAX_REPS:
        raise ValueError(_("The number of reps must lie between 1 and %(max)s.") % {"max": MAX_REPS})
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(_("The number of days must lie between 1 and %(max)s.") % {"max": MAX_DAYS})
    # The same calendar window as every other write path: the first day of history included.
    problem = rules.too_early((today or timezone.localdate()) - timedelta(days=days - 1))
    if problem:
        raise ValueError(_("The demo would start too early: %(reason)s") % {"reason": problem})
    if raw_inserts is None:
        raw_inserts = connection.vendor == "sqlite"
    generator = _Generator(
        reps=reps, days=days, seed=seed, today=today or timezone.localdate(), raw_inserts=raw_inserts
    )
    with transaction.atomic():
        return generator.run(progress=progress)


def demo_delete() -> None:
    """Delete every demo row (see the module docstring); non-demo rows are left alone."""
    User = get_user_model()
    demo_users = User.objects.filter(email__iendswith=f"@{DEMO_EMAIL_DOMAIN}")
    demo_reps = Rep.objects.filter(user__in=demo_users)
    rep_ids = list(demo_reps.values_list("pk", flat=True))
    team_ids = list(
        Team.objects.filter(Q(manager__in=demo_users) | Q(reps__in=demo_reps))
        .exclude(reps__in=Rep.objects.exclude(pk__in=rep_ids))
        .values_list("pk", flat=True)
        .distinct()
    )
    demo_deals = Deal.objects.filter(owner__in=demo_reps)
    Activity.objects.filter(rep__in=demo_reps).delete()
    DealStageChange.objects.filter(deal__in=demo_deals).delete()
    demo_deals.delete()
    for model in (Quota, Projection, ActivityTarget):
        owned = Q(rep_id__in=rep_ids) | Q(team_id__in=team_ids)
        _delete_without_history(model.objects.filter(owned))
        model.history.filter(owned).delete()  # e.g. from edits in admin
    demo_users.delete()  # their rep profiles (and team histories) go with them
    # A team or territory in another rep's history stays, as one with reps does.
    history = RepAssignment.objects.all()
    Team.objects.filter(pk__in=team_ids, reps__isnull=True).exclude(pk__in=history.values("team_id")).delete()
    for names in _chunks(ACCOUNT_NAMES, 500):
        Account.objects.filter(name__in=names, deals__isnull=True, activities__isnull=True).delete()
    Product.objects.filter(name__in=[p[0] for p in PRODUCTS], deals__isnull=True).delete()
    Territory.objects.filter(
        name__in=TERRITORIES, teams__isnull=True, reps__isnull=True, accounts__isnull=True
    ).exclude(pk__in=history.exclude(territory_id=None).values("territory_id")).delete()


def _delete_without_history(queryset) -> None:
    """Delete target rows without writing a history row for each of them.

    The demo bulk-creates its targets without history, and one history insert per
    deleted row would take most of a big re-seed. When no other row refers to the
    model, this is the very statement Django's own fast delete path would run.
    """
    if queryset.model._meta.related_objects:
        queryset.delete()
    else:
        queryset._raw_delete(queryset.db)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _workday_on_or_after(day: date) -> date:
    weekday = day.weekday()
    return day + timedelta(days=7 - weekday) if weekday >= 5 else day


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _money(value: float) -> Decimal:
    return Decimal(max(0, round(value / 10) * 10)).quantize(Decimal("0.01"))


def _round_thousand(value: float) -> Decimal:
    """Targets are round figures, and never zero (attainment divides by them)."""
    return Decimal(max(1000, round(value / 1000) * 1000)).quantize(Decimal("0.01"))


def _target(model, rep_id: int | None, team_id: int | None, period: Period, **fields):
    return model(rep_id=rep_id, team_id=team_id, period_kind=period.kind, period_start=period.start, **fields)


@dataclass
class _RepPlan:
    index: int
    first_name: str
    last_name: str
    team: int
    skill: float
    hired_on: date
    last_day: date  # the last day this rep works (yesterday, or the day they left)
    is_active: bool = True
    has_quota: bool = True
    quiet_from: date | None = None  # logs nothing from this day on (an alert for managers)
    vacation: tuple[date, date] | None = None
    username: str = ""
    user_id: int | None = None
    rep_id: int | None = None
    type_weights: list[float] = field(default_factory=list)
    daily_activities: float = 0.0

    def works_on(self, day: date, sick: bool) -> bool:
        if sick or day < self.hired_on or day > self.last_day:
            return False
        return not (self.vacation and self.vacation[0] <= day <= self.vacation[1])


@dataclass
class _DealPlan:
    rep: _RepPlan
    account: int
    product: int
    amount: Decimal
    opened_on: date
    expected_close_on: date
    closed_on: date | None
    stage: Stage
    events: list  # (day, minute, from stage or None, to stage)
    deal_id: int | None = None


class _Generator:
    def __init__(self, *, reps: int, days: int, seed: int, today: date, raw_inserts: bool):
        self.rng = random.Random(seed)
        self.raw_inserts = raw_inserts
        self.n_reps = reps
        self.days = days
        self.today = today
        self.start = today - timedelta(days=days - 1)
        self.end = today - timedelta(days=1)  # the last day with timed rows
        self.tz = timezone.get_default_timezone()
        self._day_starts: dict[date, datetime] = {}
        span = (self.end - self.start).days + 1
        every_day = (self.start + timedelta(days=i) for i in range(max(0, span)))
        self.workdays = [day for day in every_day if day.weekday() < 5]

    # --- the whole run ------------------------------------------------------

    def run(self, *, progress: TextIO | None) -> DemoSummary:
        self._load_configuration()
        steps = 5 + 2 * self.n_reps
        with tqdm(total=steps, file=progress, disable=progress is None, unit="step", leave=False) as bar:
            bar.set_description(_("Removing the previous demo data"))
            demo_delete()
            bar.update()
            bar.set_description(_("Creating the organisation"))
            self._plan_organisation()
            self._write_organisation()
            bar.update()
            bar.set_description(_("Simulating deals"))
            deals = []
            for rep in self.reps:
                deals.extend(self._plan_deals(rep))
                bar.update()
            bar.set_description(_("Writing deals"))
            self._write_deals(deals)
            bar.update()
            bar.set_description(_("Simulating activities"))
            activity_count = self._write_activities(deals, bar)
            bar.update()
            bar.set_description(_("Setting quotas, projections and targets"))
            self._write_targets(deals)
            bar.update()
        return DemoSummary(
            reps=len(self.reps),
            teams=len(self.teams),
            activities=activity_count,
            deals=len(deals),
            days=self.days,
            sign_ins=tuple(self.sign_ins),
        )

    def _load_configuration(self) -> None:
        stages = list(Stage.objects.order_by("order", "pk"))
        self.open_stages = [s for s in stages if s.kind == Stage.Kind.OPEN]
        won = [s for s in stages if s.kind == Stage.Kind.WON]
        lost = [s for s in stages if s.kind == Stage.Kind.LOST]
        if not (self.open_stages and won and lost):
            raise ValueError(_("The pipeline needs at least one open, one won and one lost stage."))
        self.won, self.lost = won[0], lost[0]
        n = len(self.open_stages)
        # Early stages leak most; the second one (MQL in the default pipeline) leaks extra.
        self.stage_loss = [
            0.2 + 0.15 * (1 - i / (n - 1) if n > 1 else 1) + (0.1 if i == 1 else 0) for i in range(n)
        ]
        self.stage_wait = [3 + 2.5 * i for i in range(n)]
        self.types = list(ActivityType.objects.filter(is_active=True).order_by("order", "name", "pk"))

    # --- organisation -------------------------------------------------------

    def _plan_organisation(self) -> None:
        rng = self.rng
        n_teams = max(1, round(self.n_reps / 8))
        sizes = [self.n_reps // n_teams + (1 if i < self.n_reps % n_teams else 0) for i in range(n_teams)]
        for _i in range(n_teams):  # uneven teams, none below four reps
            giver, taker = rng.randrange(n_teams), rng.randrange(n_teams)
            if giver != taker and sizes[giver] > 4:
                sizes[giver] -= 1
                sizes[taker] += 1
        self.team_sizes = sizes
        self.team_territories = [i % len(TERRITORIES) for i in range(n_teams)]
        self.manager_names = [(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)) for _i in range(n_teams)]

        self.reps: list[_RepPlan] = []
        for team, size in enumerate(sizes):
            for _i in range(size):
                skill = min(1.6, max(0.5, rng.gauss(1.0, 0.28)))
                hired_on = self.start - timedelta(days=rng.randint(60, 6 * 365))
                self.reps.append(
                    _RepPlan(
                        index=len(self.reps),
                        first_name=rng.choice(FIRST_NAMES),
                        last_name=rng.choice(LAST_NAMES),
                        team=team,
                        skill=skill,
                        hired_on=hired_on,
                        last_day=self.end,
                    )
                )
        # The signed-in demo rep (the first of the first team) stays a plain, active rep.
        others = self.reps[1:]
        if self.days >= 30:
            for rep in others:
                if rng.random() < 0.12:
                    rep.hired_on = self.start + timedelta(days=rng.randint(0, self.days * 2 // 3))
        leavers = 2 if self.n_reps >= 15 else 1 if self.n_reps >= 5 else 0
        for rep in rng.sample(others, min(leavers, len(others))):
            rep.is_active = False
            earliest = max(rep.hired_on, self.start) + timedelta(days=30)
            latest = self.end - timedelta(days=7)
            if earliest <= latest:
                rep.last_day = earliest + timedelta(days=rng.randint(0, (latest - earliest).days))
            else:
                rep.last_day = max(rep.hired_on, latest)
        without_quota = max(1, self.n_reps // 12) if self.n_reps >= 6 else 0
        for rep in rng.sample(others, min(without_quota, len(others))):
            rep.has_quota = False
        active_others = [r for r in others if r.is_active]
        if self.n_reps >= 8 and active_others:
            quiet = rng.choice(active_others)
            quiet.quiet_from = self.end - timedelta(days=8)
        for rep in self.reps:
            if self.days >= 60 and rng.random() < 0.6:
                first = _workday_on_or_after(self.start + timedelta(days=rng.randint(0, self.days - 14)))
                rep.vacation = (first, first + timedelta(days=11))
            if rep.quiet_from is not None:
                rep.last_day = min(rep.last_day, rep.quiet_from - timedelta(days=1))
            self._plan_activity_mix(rep)

    def _plan_activity_mix(self, rep: _RepPlan) -> None:
        # Better reps log more, sell a larger share of their day, and win more.
        weights = []
        for activity_type in self.types:
            base = ACTIVITY_PROFILES.get(activity_type.name, (5 if activity_type.is_selling else 4,))[0]
            factor = rep.skill**1.2 if activity_type.is_selling else rep.skill**-0.6
            weights.append(base * factor)
        rep.type_weights = weights
        rep.daily_activities = 6.5 * rep.skill**0.7

    def _write_organisation(self) -> None:
        rng = self.rng
        User = get_user_model()
        self.territories = self._get_or_create_named(Territory, [{"name": name} for name in TERRITORIES])
        self.products = self._get_or_create_named(
            Product,
            [{"name": n, "category": c, "list_price": Decimal(p)} for n, c, p, _t, _w in PRODUCTS],
        )
        territory_weights = [0.2 + self.team_territories.count(i) for i in range(len(TERRITORIES))]
        n_accounts = min(len(ACCOUNT_NAMES), max(40, self.n_reps * 10))
        self.account_plans = []
        for name in rng.sample(ACCOUNT_NAMES, n_accounts):
            region = rng.choices(range(len(TERRITORIES)), weights=territory_weights)[0]
            segment = rng.choices(range(len(SEGMENTS)), weights=[s[1] for s in SEGMENTS])[0]
            self.account_plans.append((name, region, segment, rng.choice(SECTORS)))
        self.accounts = self._get_or_create_named(
            Account,
            [
                {"name": n, "region": self.territories[r], "segment": SEGMENTS[s][0], "sector": sector}
                for n, r, s, sector in self.account_plans
            ],
        )
        self.accounts_by_region = defaultdict(list)
        for index, (_n, region, _s, _sector) in enumerate(self.account_plans):
            self.accounts_by_region[region].append(index)

        taken = set(User.objects.values_list("username", flat=True))
        password = make_password(DEMO_PASSWORD)  # hashed once: hashing is slow on purpose

        def new_user(preferred: str, first: str, last: str, **extra) -> User:
            username = self._free_username(preferred, taken)
            return User(
                username=username,
                email=f"{username}@{DEMO_EMAIL_DOMAIN}",
                first_name=first,
                last_name=last,
                password=password,
                **extra,
            )

        admin = new_user("admin", "Demo", "Admin", is_superuser=True)
        managers = [
            new_user("manager" if i == 0 else f"{_ascii(first)}.{_ascii(last)}", first, last)
            for i, (first, last) in enumerate(self.manager_names)
        ]
        rep_users = []
        for rep in self.reps:
            preferred = "rep" if rep.index == 0 else f"{_ascii(rep.first_name)}.{_ascii(rep.last_name)}"
            rep_users.append(new_user(preferred, rep.first_name, rep.last_name, is_active=rep.is_active))
        User.objects.bulk_create([admin, *managers, *rep_users], batch_size=BATCH_SIZE)
        for rep, user in zip(self.reps, rep_users, strict=True):
            rep.user_id, rep.username = user.pk, user.username

        user_set_role(user=admin, role=ROLE_ADMIN)
        for manager in managers:
            user_set_role(user=manager, role=ROLE_MANAGER)
        user_set_role(user=rep_users[0], role=ROLE_REP)
        # The other reps get the same single group user_set_role() gives, in one insert.
        rep_group = Group.objects.get(name=ROLE_REP)
        Membership = User.groups.through
        Membership.objects.bulk_create(
            [Membership(user_id=u.pk, group_id=rep_group.pk) for u in rep_users[1:]], batch_size=BATCH_SIZE
        )

        team_names = self._team_names(len(self.team_sizes))
        self.teams = Team.objects.bulk_create(
            [
                Team(name=name, manager=manager, territory=self.territories[territory])
                for name, manager, territory in zip(team_names, managers, self.team_territories, strict=True)
            ]
        )
        rep_rows = Rep.objects.bulk_create(
            [
                Rep(
                    user_id=rep.user_id,
                    team=self.teams[rep.team],
                    territory=self.territories[self.team_territories[rep.team]],
                    is_active=rep.is_active,
                    hired_on=rep.hired_on,
                )
                for rep in self.reps
            ],
            batch_size=BATCH_SIZE,
        )
        for rep, row in zip(self.reps, rep_rows, strict=True):
            rep.rep_id = row.pk
        # Each rep's team from the start (credit at the time: docs/metrics.md).
        RepAssignment.objects.bulk_create(
            [RepAssignment(rep=row, team=row.team, territory=row.territory) for row in rep_rows],
            batch_size=BATCH_SIZE,
        )
        self.sign_ins = [
            DemoSignIn(ROLE_ADMIN, admin.username, DEMO_PASSWORD),
            DemoSignIn(ROLE_MANAGER, managers[0].username, DEMO_PASSWORD),
            DemoSignIn(ROLE_REP, rep_users[0].username, DEMO_PASSWORD),
        ]

    @staticmethod
    def _get_or_create_named(model, rows: list[dict]) -> list:
        """Rows by name, in the given order; names kept from before (still in use) are reused."""
        existing = {}
        for chunk in _chunks([row["name"] for row in rows], 500):
            existing.update({obj.name: obj for obj in model.objects.filter(name__in=chunk)})
        missing = [model(**row) for row in rows if row["name"] not in existing]
        for obj in model.objects.bulk_create(missing, batch_size=BATCH_SIZE):
            existing[obj.name] = obj
        return [existing[row["name"]] for row in rows]

    @staticmethod
    def _free_username(preferred: str, taken: set[str]) -> str:
        """The preferred name unless somebody (a real user, an earlier demo rep) has it."""
        candidate, number = preferred, 1
        while candidate in taken:
            number += 1
            candidate = f"{preferred}{number}"
        taken.add(candidate)
        return candidate

    def _team_names(self, count: int) -> list[str]:
        taken = set(Team.objects.values_list("name", flat=True))
        names: list[str] = []
        serial = 0
        while len(names) < count:
            territory = TERRITORIES[self.team_territories[len(names)]]
            nickname = TEAM_NICKNAMES[serial % len(TEAM_NICKNAMES)]
            round_ = serial // len(TEAM_NICKNAMES)
            name = f"{territory} {nickname}" + (f" {round_ + 1}" if round_ else "")
            serial += 1
            if name not in taken:
                taken.add(name)
                names.append(name)
        return names

    # --- time ---------------------------------------------------------------

    def _at(self, day: date, minute: int) -> datetime:
        start = self._day_starts.get(day)
        if start is None:
            start = self._day_starts[day] = datetime.combine(day, time(0), tzinfo=self.tz)
        # Wall-clock arithmetic on an aware datetime: 9 * 60 minutes is 09:00 local time.
        return start + timedelta(minutes=minute)

    def _later(self, day: date, minute: int, wait_days: int) -> tuple[date, int]:
        """A working moment `wait_days` after (day, minute), strictly later than it."""
        if wait_days == 0:
            later = minute + self.rng.randint(5, 90)
            if later <= DAY_END:
                return day, later
            wait_days = 1
        return (
            _workday_on_or_after(day + timedelta(days=wait_days)),
            self.rng.randint(DAY_START, DAY_END),
        )

    # --- deals --------------------------------------------------------------

    def _plan_deals(self, rep: _RepPlan) -> list[_DealPlan]:
        rng = self.rng
        per_day = 0.42 * rep.skill
        home = self.accounts_by_region.get(self.team_territories[rep.team]) or list(range(len(self.accounts)))
        product_weights = [p[4] for p in PRODUCTS]
        plans = []
        for day in self.workdays:
            if not rep.works_on(day, sick=False):
                continue
            opened = int(per_day) + (1 if rng.random() < per_day - int(per_day) else 0)
            for _i in range(opened):
                account = rng.choice(home) if rng.random() < 0.85 else rng.randrange(len(self.accounts))
                product = rng.choices(range(len(PRODUCTS)), weights=product_weights)[0]
                low, high = SEGMENTS[self.account_plans[account][2]][2]
                size = PRODUCTS[product][2] * rng.randint(low, high) * rep.skill**0.6 * rng.uniform(0.8, 1.1)
                plans.append(self._simulate_deal(rep, day, account, product, _money(size)))
        return plans

    def _simulate_deal(self, rep: _RepPlan, opened_on: date, account: int, product: int, amount: Decimal):
        rng = self.rng
        n = len(self.open_stages)
        draw = rng.random()
        index = min(n - 1, 0 if draw < 0.85 else 1 if draw < 0.95 else 2)  # some start past Lead
        stage = self.open_stages[index]
        day, minute = opened_on, rng.randint(DAY_START, DAY_END - 60)
        events = [(day, minute, None, stage)]
        loss_factor = max(0.4, 1.6 - 0.6 * rep.skill)
        lost_from, reopened = None, False
        while True:
            if index is not None:
                wait = int(rng.expovariate(rep.skill**0.3 / self.stage_wait[index]))
                if rng.random() < min(0.9, self.stage_loss[index] * loss_factor):
                    target, lost_from = self.lost, index
                elif index == n - 1:
                    target = self.won
                else:
                    skip = rng.random()
                    if index == n - 2 and skip < 0.06:
                        target = self.won  # closed straight from the stage before last
                    elif index + 2 < n and skip < 0.1:
                        target = self.open_stages[index + 2]  # skipped a stage
                    else:
                        target = self.open_stages[index + 1]
            elif stage == self.lost and not reopened and rng.random() < 0.05:
                wait, target, reopened = rng.randint(7, 40), self.open_stages[lost_from], True
            else:
                break
            day, minute = self._later(day, minute, wait)
            if day > rep.last_day:
                break  # still in `stage` today
            events.append((day, minute, stage, target))
            stage = target
            index = self.open_stages.index(stage) if stage.kind == Stage.Kind.OPEN else None

        closed_on = events[-1][0] if stage.kind != Stage.Kind.OPEN else None
        expected = opened_on + timedelta(days=rng.randint(20, 100))
        if closed_on is None and expected < self.today and rng.random() < 0.7:
            expected = self.today + timedelta(days=rng.randint(7, 75))  # the rep moved the forecast
        return _DealPlan(
            rep=rep,
            account=account,
            product=product,
            amount=amount,
            opened_on=opened_on,
            expected_close_on=expected,
            closed_on=closed_on,
            stage=stage,
            events=events,
        )

    def _write_deals(self, plans: list[_DealPlan]) -> None:
        deals = []
        for number, plan in enumerate(plans, start=1):
            account, product = self.accounts[plan.account], self.products[plan.product]
            deals.append(
                Deal(
                    name=f"{account.name} · {product.name}",
                    owner_id=plan.rep.rep_id,
                    account=account,
                    product=product,
                    amount=plan.amount,
                    revenue_type=PRODUCTS[plan.product][3],
                    source=Source.DEMO,
                    stage=plan.stage,
                    opened_on=plan.opened_on,
                    expected_close_on=plan.expected_close_on,
                    closed_on=plan.closed_on,
                    external_id=f"demo-{number:07d}",
                )
            )
        Deal.objects.bulk_create(deals, batch_size=BATCH_SIZE)
        changes = RowWriter(DealStageChange, CHANGE_FIELDS, executemany=self.raw_inserts)
        for plan, deal in zip(plans, deals, strict=True):
            plan.deal_id = deal.pk
            for day, minute, from_stage, to_stage in plan.events:
                changes.add(
                    (
                        deal.pk,
                        from_stage.pk if from_stage else None,
                        to_stage.pk,
                        self._at(day, minute),
                        plan.rep.user_id,
                    )
                )
        changes.flush()

    # --- activities ---------------------------------------------------------

    def _write_activities(self, deals: list[_DealPlan], bar) -> int:
        rng = self.rng
        if not self.types:  # every activity type switched off in admin
            bar.update(len(self.reps))
            return 0
        deals_by_rep = defaultdict(list)
        for plan in deals:  # already in opening order per rep
            deals_by_rep[plan.rep.index].append(plan)
        profiles = []
        for activity_type in self.types:
            default = (
                5 if activity_type.is_selling else 4,
                (0.75, 1, 1, 1.25),
                0.4 * activity_type.is_selling,
            )
            _weight, factors, link = ACTIVITY_PROFILES.get(activity_type.name, default)
            durations = [
                min(rules.DURATION_MAX, max(rules.DURATION_MIN, round(activity_type.default_duration * f)))
                for f in factors
            ]
            outcomes = OUTCOMES.get(activity_type.name, ("",))
            profiles.append((activity_type.pk, activity_type.is_selling, durations, link, outcomes))

        # The imports' writer, with the columns of an imported activity (ActivitiesKind.CREATE_FIELDS).
        writer = RowWriter(Activity, ActivitiesKind.CREATE_FIELDS, executemany=self.raw_inserts)
        for rep in self.reps:
            rep_deals = deals_by_rep[rep.index]
            home = self.accounts_by_region.get(self.team_territories[rep.team]) or [0]
            cum_weights = []
            total = 0.0
            for weight in rep.type_weights:
                total += weight
                cum_weights.append(total)
            pending, active = 0, []
            for day in self.workdays:
                sick = rng.random() < 0.02
                if not rep.works_on(day, sick):
                    continue
                while pending < len(rep_deals) and rep_deals[pending].opened_on <= day:
                    active.append(rep_deals[pending])
                    pending += 1
                active = [d for d in active if d.closed_on is None or d.closed_on >= day]
                planned = max(1, round(rng.gauss(rep.daily_activities, rep.daily_activities * 0.3)))
                minute = rng.randint(DAY_START - 30, DAY_START + 60)
                for _i in range(planned):
                    choice = rng.choices(profiles, cum_weights=cum_weights)[0]
                    type_id, selling, durations, link, outcomes = choice
                    duration = rng.choice(durations)
                    deal_id = account_id = None
                    if active and rng.random() < link:
                        deal = rng.choice(active)
                        deal_id, account_id = deal.deal_id, self.accounts[deal.account].pk
                    elif selling and rng.random() < 0.3:
                        account_id = self.accounts[rng.choice(home)].pk
                    # rep, type, occurred_at, duration, deal, account, outcome, notes, source, external id
                    writer.add(
                        (
                            rep.rep_id,
                            type_id,
                            self._at(day, minute),
                            duration,
                            deal_id,
                            account_id,
                            rng.choice(outcomes),
                            "",
                            Source.DEMO,
                            "",
                        )
                    )
                    minute += duration + rng.choice((0, 0, 5, 10, 15, 30))
                    if minute > DAY_END:
                        break
            bar.update()
        writer.flush()
        return writer.count

    # --- quotas, projections, activity targets ------------------------------

    def _periods(self) -> tuple[list[Period], list[Period]]:
        quarters = [Period.containing(self.start, PeriodKind.QUARTER)]
        while quarters[-1].end <= self.today:
            quarters.append(quarters[-1].next())
        months = []
        for quarter in quarters:
            month = Period(quarter.start, PeriodKind.MONTH)
            for _i in range(3):
                months.append(month)
                month = month.next()
        return months, quarters

    def _write_targets(self, deals: list[_DealPlan]) -> None:
        rng = self.rng
        months, quarters = self._periods()
        won = defaultdict(Decimal)  # (rep index, quarter start) -> revenue
        for plan in deals:
            if plan.stage == self.won:
                won[(plan.rep.index, Period.containing(plan.closed_on, PeriodKind.QUARTER).start)] += (
                    plan.amount
                )
        working_days = sum(1 for rep in self.reps for day in self.workdays if rep.works_on(day, sick=False))
        total_won = sum(won.values(), Decimal(0))
        # A month's quota is about what an average rep wins in a month (~21 working days);
        # quotas ignore the hidden skill, so attainment spreads the way skill does.
        monthly = float(total_won) / working_days * 21 if working_days and total_won else 30000.0
        target_types = [t for t in self.types if t.name in TARGET_TYPES] or [
            t for t in self.types if t.is_selling
        ][:3]

        quotas, projections, targets = [], [], []
        quarter_quota: dict[tuple[int, date], Decimal] = {}
        forecast: dict[tuple[int, date], Decimal] = {}
        first_type_count: dict[tuple[int, date], int] = defaultdict(int)
        for rep in self.reps:
            personal = rng.uniform(0.85, 1.25)
            total_weight = sum(rep.type_weights) or 1
            for month in months:
                if not self._employed_in(rep, month):
                    continue
                quarter = Period.containing(month.start, PeriodKind.QUARTER).start
                ramp = 0.5 if month.start <= rep.hired_on else 1.0
                if rep.has_quota:
                    amount = _round_thousand(monthly * personal * ramp * rng.uniform(0.9, 1.1))
                    quotas.append(_target(Quota, rep.rep_id, None, month, amount=amount))
                    quarter_quota[(rep.index, quarter)] = quarter_quota.get((rep.index, quarter), 0) + amount
                for position, activity_type in enumerate(target_types):
                    share = rep.type_weights[self.types.index(activity_type)] / total_weight
                    count = max(1, math.ceil(rep.daily_activities * share * 21 * ramp * 1.1))
                    targets.append(
                        _target(ActivityTarget, rep.rep_id, None, month, activity_type=activity_type,
                                target_count=count)
                    )  # fmt: skip
                    if position == 0:
                        first_type_count[(rep.index, quarter)] += count
            for quarter in quarters:
                key = (rep.index, quarter.start)
                if key in quarter_quota:
                    quotas.append(_target(Quota, rep.rep_id, None, quarter, amount=quarter_quota[key]))
                if not self._employed_in(rep, quarter):
                    continue
                covered = self._covered_share(quarter)
                basis = [float(quarter_quota[key])] if key in quarter_quota else []
                if covered >= 0.25:  # extrapolate what was won so far to the whole quarter
                    basis.append(float(won[key]) / covered)
                average = sum(basis) / len(basis) if basis else monthly * 3
                forecast[key] = _round_thousand(average * rng.uniform(0.9, 1.1))
                projections.append(_target(Projection, rep.rep_id, None, quarter, amount=forecast[key]))

        for team_index, team in enumerate(self.teams):
            members = [rep.index for rep in self.reps if rep.team == team_index]
            for quarter in quarters:
                keys = [(i, quarter.start) for i in members]
                team_forecast = sum((forecast.get(k, Decimal(0)) for k in keys), Decimal(0))
                amount = _round_thousand(float(team_forecast) * rng.uniform(0.95, 1.05))
                projections.append(_target(Projection, None, team.pk, quarter, amount=amount))
                own = sum((quarter_quota.get(k, Decimal(0)) for k in keys), Decimal(0))
                if team_index % 2 == 0 and own:  # a few teams carry a quota of their own
                    quotas.append(
                        _target(Quota, None, team.pk, quarter, amount=_round_thousand(float(own) * 1.05))
                    )
                count = sum(first_type_count[k] for k in keys)
                if count:
                    targets.append(
                        _target(ActivityTarget, None, team.pk, quarter, activity_type=target_types[0],
                                target_count=count)
                    )  # fmt: skip
        Quota.objects.bulk_create(quotas, batch_size=BATCH_SIZE)
        Projection.objects.bulk_create(projections, batch_size=BATCH_SIZE)
        ActivityTarget.objects.bulk_create(targets, batch_size=BATCH_SIZE)

    @staticmethod
    def _employed_in(rep: _RepPlan, period: Period) -> bool:
        if period.last_day < rep.hired_on:
            return False
        return rep.is_active or period.start <= rep.last_day

    def _covered_share(self, period: Period) -> float:
        """The share of a period's days that lie in the generated window."""
        first, last = max(period.start, self.start), min(period.last_day, self.end)
        return max(0, (last - first).days + 1) / period.days
