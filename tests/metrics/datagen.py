"""Randomised but reproducible datasets for comparing the metrics engine with the oracle.

`make_dataset(seed=...)` writes, with `bulk_create`, an organisation and its raw rows: one
`random.Random(seed)` drives every choice in a fixed order, so a seed always gives the same rows
(ids aside). The rows keep the model constraints and the rules of `activities.services` (closed_on
set iff the stage is won or lost and never before opened_on, expected close not before opening and
within the horizon, nothing in the future, durations 1-1440, linked deals owned by the activity's
rep, one target per owner and period, periods given by their first day), and they deliberately
contain the cases the metric definitions have to get right:

- territories shared by teams, reps whose own territory differs from their team's, inactive reps;
- team assignments (`RepAssignment`): every rep one from the start, and about one rep in six moved
  to another team (and its territory) from a day inside the range, so figures before and after the
  move are credited to different teams; `Rep.team` / `Rep.territory` are the latest assignment;
- activities of every default type around local and UTC midnight, on month edges and on the days
  the clocks change in `tz`, so the local date decides the period;
- deals that skip stages, are reopened (won or lost, then open again, sometimes closed again), are
  lost from every open stage, are opened straight into Won or Lost, stay open in every open stage
  with and without an expected close, or have no product;
- quotas and projections by month, quarter and year (none at all, a quarter row with its month rows,
  only some months, a Q1 row plus April-December, a zero quota), team rows for some teams only;
- one month of the range (`quiet_period`) in which no deal closes.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from activities.access import ROLE_MANAGER, ROLE_REP
from activities.models import (
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
from metrics.models import Projection, Quota
from metrics.periods import Period, PeriodKind

TERRITORY_NAMES = ["North", "South", "Islands"]
PRODUCT_NAMES = [
    ("Analytics Cloud", "Software"),
    ("CRM Connector", "Software"),
    ("Edge Gateway", "Hardware"),
    ("Field Sensor Kit", "Hardware"),
    ("Onboarding Package", "Services"),
    ("Premium Support", "Services"),
]
TARGET_SCHEMES = ["none", "months", "quarters", "quarter_and_months", "some_months", "year", "q1_plus_months"]


@dataclass
class _DealPlan:
    story: str
    owner: Rep
    path: list[Stage]
    days: list[date]
    closed_on: date | None
    expected_close_on: date | None
    product: Product | None
    account: Account | None
    amount: Decimal


def make_dataset(
    *,
    seed: int,
    reps: int = 12,
    teams: int = 3,
    start: date,
    end: date,
    deals: int = 300,
    activities: int = 2000,
    tz: str = "Europe/Berlin",
) -> dict:
    """Write a dataset for `seed` and return the ids of what it created (see `_Generator.run`).

    `tz` is the zone whose midnights and clock changes the activity times are placed around; use
    the one the tests compute in. The range must lie in the past (services refuse future dates).
    Names carry the seed, so datasets of different seeds can live in one database.
    """
    if start > end:
        raise ValueError("start must not be after end")
    if end > timezone.localdate():
        raise ValueError("end must not lie in the future")
    if reps < 1 or teams < 1 or deals < 0 or activities < 0:
        raise ValueError("reps and teams must be positive, deals and activities not negative")
    generator = _Generator(
        seed=seed,
        reps=reps,
        teams=teams,
        start=start,
        end=end,
        deals=deals,
        activities=activities,
        zone=ZoneInfo(tz),
    )
    with transaction.atomic():
        return generator.run()


def _months_between(start: date, end: date) -> list[Period]:
    months, period = [], Period.containing(start, PeriodKind.MONTH)
    while period.start <= end:
        months.append(period)
        period = period.next()
    return months


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _round_hundreds(value: float) -> Decimal:
    return Decimal(max(1, round(value / 100)) * 100).quantize(Decimal("0.01"))


class _Generator:
    def __init__(self, *, seed, reps, teams, start, end, deals, activities, zone):
        self.rng = random.Random(seed)
        self.seed = seed
        self.prefix = f"Gen{seed}"
        self.n_reps, self.n_teams = reps, teams
        self.start, self.end = start, end
        self.n_deals, self.n_activities = deals, activities
        self.zone = zone
        self.span = (end - start).days
        self.months = _months_between(start, end)
        # A month in the middle of the range in which no deal closes (needs a month on either side).
        self.quiet = (
            self.months[self.rng.randrange(1, len(self.months) - 1)] if len(self.months) >= 3 else None
        )
        stages = list(Stage.objects.order_by("order"))
        self.open_stages = [s for s in stages if s.kind == Stage.Kind.OPEN]
        self.won = next(s for s in stages if s.kind == Stage.Kind.WON)
        self.lost = next(s for s in stages if s.kind == Stage.Kind.LOST)
        if len(self.open_stages) < 3:
            raise ValueError("the generator needs a pipeline with at least three open stages")
        self.types = list(ActivityType.objects.filter(is_active=True).order_by("order", "name"))

    # --- helpers ----------------------------------------------------------------------------------

    def _day(self, first: date | None = None, last: date | None = None) -> date:
        first, last = first or self.start, last or self.end
        return first + timedelta(days=self.rng.randint(0, (last - first).days))

    def _at(self, day: date, hour: int, minute: int) -> datetime:
        """An aware instant (UTC) for a wall-clock time in the zone."""
        return datetime.combine(day, time(hour, minute), tzinfo=self.zone).astimezone(UTC)

    def _amount(self) -> Decimal:
        if self.rng.random() < 0.02:
            return Decimal("0.00")
        return Decimal(self.rng.randrange(10_000, 5_000_000)).scaleb(-2)

    # --- the run --------------------------------------------------------------------------------------

    def run(self) -> dict:
        self._organisation()
        self._catalogue()
        plans = self._plan_deals()
        self._write_deals(plans)
        self._write_activities()
        self._write_targets()
        # Last, so the rows drawn before keep the values they had before moves existed.
        self._write_moves()
        return {
            "seed": self.seed,
            "tz": str(self.zone),
            "territories": [t.pk for t in self.territories],
            "teams": [t.pk for t in self.teams],
            "managers": [u.pk for u in self.managers],
            "reps": [r.pk for r in self.reps],
            "inactive_reps": [r.pk for r in self.reps if not r.is_active],
            "reps_outside_team_territory": [r.pk for r in self.reps if r.territory_id != r.team.territory_id],
            "assignments": [a.pk for a in self.assignments],
            "moved_reps": {rep.pk: (move.starts_on.isoformat(), move.team_id) for rep, move in self.moves},
            "products": [p.pk for p in self.products],
            "accounts": [a.pk for a in self.accounts],
            "deals": [d.pk for d in self.deals],
            "deal_stories": self.stories,
            "activities": [a.pk for a in self.activities],
            "quotas": [q.pk for q in self.quotas],
            "projections": [p.pk for p in self.projections],
            "rep_quota_schemes": self.rep_schemes["quota"],
            "rep_projection_schemes": self.rep_schemes["projection"],
            "months": [str(m) for m in self.months],
            "quiet_period": str(self.quiet) if self.quiet else None,
            "dst_days": [d.isoformat() for d in self._dst_days()],
        }

    def _organisation(self) -> None:
        User = get_user_model()
        rng, p = self.rng, self.prefix
        n_territories = 2 if self.n_teams < 3 else 3
        self.territories = Territory.objects.bulk_create(
            [Territory(name=f"{p} {name}") for name in TERRITORY_NAMES[:n_territories]]
        )
        joined = self._at(self.start, 9, 0)
        manager_users = [
            User(
                username=f"{p.lower()}_manager{i + 1}",
                first_name=f"Manager{i + 1}",
                last_name=p,
                email=f"{p.lower()}_manager{i + 1}@example.com",
                password=f"!{p}-unusable",
                date_joined=joined,
            )
            for i in range(self.n_teams)
        ]
        rep_users = [
            User(
                username=f"{p.lower()}_rep{i + 1:02d}",
                first_name=f"Rep{i + 1:02d}",
                last_name=p,
                email=f"{p.lower()}_rep{i + 1:02d}@example.com",
                password=f"!{p}-unusable",
                date_joined=joined,
            )
            for i in range(self.n_reps)
        ]
        self.managers = User.objects.bulk_create(manager_users)
        rep_users = User.objects.bulk_create(rep_users)
        through = User.groups.through
        manager_group, rep_group = Group.objects.get(name=ROLE_MANAGER), Group.objects.get(name=ROLE_REP)
        through.objects.bulk_create(
            [through(user_id=u.pk, group_id=manager_group.pk) for u in self.managers]
            + [through(user_id=u.pk, group_id=rep_group.pk) for u in rep_users]
        )
        # Teams 0 and 2 share the first territory; the last one (if three) is reached only by reps.
        self.teams = Team.objects.bulk_create(
            [
                Team(name=f"{p} Team {i + 1}", manager=self.managers[i], territory=self.territories[i % 2])
                for i in range(self.n_teams)
            ]
        )
        reps = []
        for i, user in enumerate(rep_users):
            team = self.teams[i % self.n_teams]
            reps.append(
                Rep(
                    user=user,
                    team=team,
                    territory=team.territory,
                    is_active=True,
                    hired_on=self.start - timedelta(days=rng.randint(30, 1500)),
                )
            )
        # One or two reps work another territory than their team's.
        movers = rng.sample(range(self.n_reps), k=min(2, self.n_reps))
        for index in movers:
            others = [t for t in self.territories if t != reps[index].territory]
            reps[index].territory = others[-1]
        # Some reps have left; their history still counts.
        if self.n_reps >= 3:
            for index in rng.sample(range(self.n_reps), k=max(1, self.n_reps // 6)):
                reps[index].is_active = False
        self.reps = Rep.objects.bulk_create(reps)
        self.assignments = RepAssignment.objects.bulk_create(
            [RepAssignment(rep=r, team=r.team, territory=r.territory, starts_on=None) for r in self.reps]
        )
        # How busy each rep is, and which activity types they favour: so counts differ across reps.
        self.deal_weight = [rng.uniform(0.4, 2.0) for _ in self.reps]
        self.activity_weight = [rng.uniform(0.4, 2.0) for _ in self.reps]
        self.type_weights = [[rng.uniform(0.1, 3.0) for _ in self.types] for _ in self.reps]

    def _catalogue(self) -> None:
        rng, p = self.rng, self.prefix
        self.products = Product.objects.bulk_create(
            [
                Product(
                    name=f"{p} {name}", category=category, list_price=Decimal(rng.randrange(5, 500) * 100)
                )
                for name, category in PRODUCT_NAMES
            ]
        )
        segments = list(Account.Segment.values)
        self.accounts = Account.objects.bulk_create(
            [
                Account(
                    name=f"{p} Account {i + 1:02d}",
                    region=rng.choice([*self.territories, None]),
                    segment=rng.choice([*segments, ""]),
                )
                for i in range(20)
            ]
        )

    # --- deals --------------------------------------------------------------------------------------

    def _required_stories(self) -> list[tuple[str, list[Stage]]]:
        o, won, lost = self.open_stages, self.won, self.lost
        stories = [
            ("won_straight", [*o, won]),
            ("won_skipping", [o[0], o[len(o) // 2], won]),
            ("lost_skipping", [o[0], o[-2], lost]),
            ("won_reopened", [*o[:3], won, o[-1]]),
            ("won_reopened_rewon", [*o[:2], won, o[-1], won]),
            ("lost_reopened", [*o[:2], lost, o[2]]),
            ("lost_reopened_won", [o[0], lost, o[1], won]),
            ("opened_lost", [lost]),
            ("opened_won", [won]),
            ("won_no_product", [*o, won]),
            ("lost_no_product", [o[0], lost]),
            ("open_no_product", [o[0]]),
        ]
        for i, stage in enumerate(o):
            stories.append((f"lost_from_{stage.name}", [*o[: i + 1], lost]))
            stories.append((f"open_in_{stage.name}_expected", [*o[: i + 1]]))
            stories.append((f"open_in_{stage.name}_no_expected", [o[0], stage] if i else [stage]))
        return stories

    def _progression(self, last_index: int) -> list[Stage]:
        """A walk through the open stages up to open_stages[last_index], sometimes skipping some."""
        o = self.open_stages
        middle = [s for s in o[1:last_index] if self.rng.random() < 0.7]
        return [o[0], *middle, o[last_index]] if last_index else [o[0]]

    def _random_story(self) -> tuple[str, list[Stage]]:
        rng, o = self.rng, self.open_stages
        roll = rng.random()
        if roll < 0.30:
            return "open", self._progression(rng.randrange(len(o)))
        if roll < 0.60:
            return "won", [*self._progression(rng.randrange(len(o))), self.won]
        if roll < 0.85:
            return "lost", [*self._progression(rng.randrange(len(o))), self.lost]
        if roll < 0.93:
            closed = rng.choice([self.won, self.lost])
            reopened = rng.choice(o)
            tail = [rng.choice([self.won, self.lost])] if rng.random() < 0.5 else []
            return "reopened", [*self._progression(rng.randrange(len(o))), closed, reopened, *tail]
        return "opened_closed", [rng.choice([self.won, self.lost])]

    def _plan_deals(self) -> list[_DealPlan]:
        rng = self.rng
        required = self._required_stories()
        plans = []
        for i in range(self.n_deals):
            story, path = required[i] if i < len(required) else self._random_story()
            owner = rng.choices(self.reps, weights=self.deal_weight)[0]
            days, closed_on = self._deal_days(path)
            if story.endswith("_no_expected"):
                expected = None
            elif story.startswith("open_in_") or rng.random() < 0.7:
                expected = days[0] + timedelta(days=rng.randint(0, 150))
            else:
                expected = None
            no_product = "no_product" in story or rng.random() < 0.1
            plans.append(
                _DealPlan(
                    story=story,
                    owner=owner,
                    path=path,
                    days=days,
                    closed_on=closed_on,
                    expected_close_on=expected,
                    product=None if no_product else rng.choice(self.products),
                    account=rng.choice(self.accounts) if rng.random() < 0.9 else None,
                    amount=self._amount(),
                )
            )
        return plans

    def _deal_days(self, path: list[Stage]) -> tuple[list[date], date | None]:
        """The day of each stage change, and closed_on; closing never falls in the quiet month."""
        max_gap = max(1, min(20, self.span // (2 * len(path))))
        for _attempt in range(1000):
            days = [self._day()]
            for _stage in path[1:]:
                days.append(days[-1] + timedelta(days=self.rng.randint(0, max_gap)))
            closed_on = None
            if path[-1].is_closed:
                # A deal opened straight into a closed stage may be closed a little later.
                closed_on = days[-1] + timedelta(days=self.rng.randint(0, 3)) if len(path) == 1 else days[-1]
            last = closed_on or days[-1]
            if last > self.end:
                continue
            if closed_on and self.quiet and closed_on in self.quiet:
                continue
            return days, closed_on
        raise ValueError("the date range is too short for the deal stories")

    def _write_deals(self, plans: list[_DealPlan]) -> None:
        deals = [
            Deal(
                name=f"{self.prefix} Deal {i + 1:04d}",
                owner=plan.owner,
                account=plan.account,
                product=plan.product,
                amount=plan.amount,
                revenue_type=self.rng.choice(list(Deal.RevenueType.values)),
                source=Source.DEMO,
                stage=plan.path[-1],
                opened_on=plan.days[0],
                expected_close_on=plan.expected_close_on,
                closed_on=plan.closed_on,
            )
            for i, plan in enumerate(plans)
        ]
        self.deals = Deal.objects.bulk_create(deals)
        self.stories: dict[str, list[int]] = {}
        changes = []
        for deal, plan in zip(self.deals, plans, strict=True):
            self.stories.setdefault(plan.story, []).append(deal.pk)
            previous_stage, previous_at = None, None
            by = plan.owner.user if self.rng.random() < 0.9 else None
            for stage, day in zip(plan.path, plan.days, strict=True):
                at = self._at(day, self.rng.randint(8, 18), self.rng.randint(0, 59))
                if previous_at is not None and at <= previous_at:
                    at = previous_at + timedelta(minutes=self.rng.randint(1, 30))
                changes.append(
                    DealStageChange(
                        deal=deal, from_stage=previous_stage, to_stage=stage, changed_at=at, by=by
                    )
                )
                previous_stage, previous_at = stage, at
        self.stage_changes = DealStageChange.objects.bulk_create(changes)
        self.deals_of: dict[int, list[Deal]] = {}
        for deal in self.deals:
            self.deals_of.setdefault(deal.owner_id, []).append(deal)

    # --- activities ---------------------------------------------------------------------------------

    def _dst_days(self) -> list[date]:
        """The days of the range on which the clocks change in the zone."""
        days, day = [], self.start
        while day <= self.end:
            before = datetime.combine(day, time(0, 0), tzinfo=self.zone).utcoffset()
            after = datetime.combine(day, time(23, 59), tzinfo=self.zone).utcoffset()
            if before != after:
                days.append(day)
            day += timedelta(days=1)
        return days

    def _moment(self) -> datetime:
        """When an activity happened: mostly office hours, often right at a date boundary."""
        rng = self.rng
        roll = rng.random()
        dst_days = self._dst_days_cache
        if roll < 0.55:
            return self._at(self._day(), rng.randint(7, 18), rng.randint(0, 59))
        if roll < 0.70:  # around local midnight
            day = self._day()
            hour = rng.choice([23, 0])
            return self._at(day, hour, rng.randint(0, 59))
        if roll < 0.82:  # around UTC midnight (local 23:xx-02:xx in Europe)
            day = self._day()
            midnight = datetime.combine(day, time(0, 0), tzinfo=UTC)
            return midnight + timedelta(minutes=rng.randint(-120, 119))
        if roll < 0.92 and dst_days:  # the night the clocks change, and the days next to it
            day = rng.choice(dst_days) + timedelta(days=rng.choice([-1, 0, 0, 1]))
            return (
                datetime.combine(day, time(0, 0), tzinfo=self.zone) + timedelta(minutes=rng.randint(0, 1439))
            ).astimezone(UTC)
        # the last evening or first night of a month
        month = rng.choice(self.months)
        if rng.random() < 0.5:
            return self._at(month.last_day, 23, rng.randint(0, 59))
        return self._at(month.start, 0, rng.randint(0, 59))

    def _duration(self, activity_type: ActivityType) -> int:
        roll = self.rng.random()
        if roll < 0.01:
            return 1
        if roll < 0.02:
            return 1440
        return min(1440, max(1, round(activity_type.default_duration * self.rng.uniform(0.3, 2.5))))

    def _write_activities(self) -> None:
        rng = self.rng
        self._dst_days_cache = self._dst_days()
        latest = min(self.end, timezone.localdate())
        rows = []
        for i in range(self.n_activities):
            # Every type at least once, then by each rep's taste.
            rep_index = rng.choices(range(len(self.reps)), weights=self.activity_weight)[0]
            rep = self.reps[rep_index]
            if i < len(self.types):
                activity_type = self.types[i]
            else:
                activity_type = rng.choices(self.types, weights=self.type_weights[rep_index])[0]
            while True:
                moment = self._moment()
                local_day, utc_day = moment.astimezone(self.zone).date(), moment.date()
                if self.start <= local_day <= latest and self.start <= utc_day <= latest:
                    break
            deal = None
            if rng.random() < 0.25:
                candidates = [d for d in self.deals_of.get(rep.pk, []) if d.opened_on <= local_day]
                deal = rng.choice(candidates) if candidates else None
            rows.append(
                Activity(
                    rep=rep,
                    type=activity_type,
                    occurred_at=moment,
                    duration_minutes=self._duration(activity_type),
                    deal=deal,
                    account=deal.account if deal else rng.choice([*self.accounts[:5], None]),
                    outcome=rng.choice(["", "interested", "call back", "no answer"]),
                    source=Source.DEMO,
                )
            )
        self.activities = Activity.objects.bulk_create(rows)

    # --- team moves ---------------------------------------------------------------------------------

    def _write_moves(self) -> None:
        """About one rep in six moves to another team and its territory from a day inside the range."""
        rng = self.rng
        self.moves: list[tuple[Rep, RepAssignment]] = []
        if self.n_teams < 2:
            return
        # Reps working another territory than their team's stay put, so that case survives.
        candidates = [r for r in self.reps if r.territory_id == r.team.territory_id] or self.reps
        count = min(len(candidates), max(1, round(self.n_reps / 6)))
        first = min(self.start + timedelta(days=1), self.end)  # some days before the move, if any
        for rep in sorted(rng.sample(candidates, k=count), key=lambda r: r.pk):
            team = rng.choice([t for t in self.teams if t.pk != rep.team_id])
            move = RepAssignment(rep=rep, team=team, territory=team.territory, starts_on=self._day(first))
            rep.team, rep.territory = (
                team,
                team.territory,
            )  # the latest assignment (moves are never after today)
            self.moves.append((rep, move))
        moves = RepAssignment.objects.bulk_create([move for _, move in self.moves])
        self.assignments += moves
        Rep.objects.bulk_update([rep for rep, _ in self.moves], ["team", "territory"])

    # --- quotas and projections ---------------------------------------------------------------------

    def _write_targets(self) -> None:
        # The (fiscal) years of the data, each with its twelve months in order.
        years = sorted({Period.containing(m.start, PeriodKind.YEAR) for m in self.months})
        months = [Period(_add_months(year.start, n), PeriodKind.MONTH) for year in years for n in range(12)]
        won_by_rep_month: dict[tuple[int, date], Decimal] = {}
        for deal in self.deals:
            if deal.stage.kind == Stage.Kind.WON:
                key = (deal.owner_id, Period.containing(deal.closed_on, PeriodKind.MONTH).start)
                won_by_rep_month[key] = won_by_rep_month.get(key, Decimal("0")) + deal.amount
        total = float(sum(won_by_rep_month.values(), Decimal("0")))
        self.base = total / (len(self.reps) * len(self.months)) if total else 10_000.0
        self.rep_schemes: dict[str, dict[int, str]] = {}
        self.quotas = Quota.objects.bulk_create(
            self._targets(Quota, "quota", years, months, won_by_rep_month)
        )
        self.projections = Projection.objects.bulk_create(
            self._targets(Projection, "projection", years, months, won_by_rep_month)
        )

    def _targets(self, model, kind: str, years, months, won_by_rep_month) -> list:
        rng = self.rng
        rows = []

        def month_base(rep_id: int | None, month: Period) -> float:
            won = float(won_by_rep_month.get((rep_id, month.start), 0))
            return won * rng.uniform(0.6, 1.2) if won else self.base * rng.uniform(0.3, 1.2)

        def add(period: Period, amount: Decimal, *, rep=None, team=None):
            rows.append(
                model(rep=rep, team=team, period_kind=period.kind, period_start=period.start, amount=amount)
            )

        schemes = TARGET_SCHEMES * (len(self.reps) // len(TARGET_SCHEMES) + 1)
        schemes = schemes[: len(self.reps)]
        rng.shuffle(schemes)
        self.rep_schemes[kind] = {}
        zero_given = False
        for rep, scheme in zip(self.reps, schemes, strict=True):
            self.rep_schemes[kind][rep.pk] = scheme
            bases = {m.start: month_base(rep.pk, m) for m in months}
            for year in years:
                quarters = [Period(_add_months(year.start, 3 * q), PeriodKind.QUARTER) for q in range(4)]
                year_months = [m for m in months if m.start in year]

                def quarter_amount(quarter: Period, bases=bases) -> Decimal:
                    inside = [bases[_add_months(quarter.start, k)] for k in range(3)]
                    return _round_hundreds(sum(inside) * rng.uniform(0.9, 1.1))

                if scheme == "months":
                    for month in year_months:
                        amount = _round_hundreds(bases[month.start])
                        if kind == "quota" and not zero_given:
                            amount, zero_given = Decimal("0.00"), True  # a zero quota: attainment NULL
                        add(month, amount, rep=rep)
                elif scheme == "quarters":
                    for quarter in quarters:
                        add(quarter, quarter_amount(quarter), rep=rep)
                elif scheme == "quarter_and_months":
                    # Month rows drawn independently, so adding them to the quarter row shows.
                    for quarter in quarters:
                        add(quarter, quarter_amount(quarter), rep=rep)
                    for month in year_months:
                        add(month, _round_hundreds(bases[month.start] * rng.uniform(0.5, 1.5)), rep=rep)
                elif scheme == "some_months":
                    for month in year_months:
                        if rng.random() < 0.5:
                            add(month, _round_hundreds(bases[month.start]), rep=rep)
                elif scheme == "year":
                    add(year, _round_hundreds(sum(bases[m.start] for m in year_months)), rep=rep)
                elif scheme == "q1_plus_months":
                    add(quarters[0], quarter_amount(quarters[0]), rep=rep)
                    for month in year_months[3:]:
                        add(month, _round_hundreds(bases[month.start]), rep=rep)
        # Own rows for some teams only: quotas for even teams, projections for odd ones.
        for index, team in enumerate(self.teams):
            if (index % 2 == 0) != (kind == "quota"):
                continue
            team_size = sum(1 for r in self.reps if r.team_id == team.pk)
            for year in years:
                if index // 2 % 2 == 0:
                    for q in range(4):
                        amount = _round_hundreds(self.base * 3 * team_size * rng.uniform(0.7, 1.3))
                        add(Period(_add_months(year.start, 3 * q), PeriodKind.QUARTER), amount, team=team)
                else:
                    amount = _round_hundreds(self.base * 12 * team_size * rng.uniform(0.7, 1.3))
                    add(year, amount, team=team)
        return rows


# --- a digest of the rows, independent of ids --------------------------------------------------------


def rows_digest() -> str:
    """A hash of every row a dataset writes, with ids replaced by names, so two runs can be compared."""
    lines = []
    lines += sorted(Territory.objects.values_list("name"), key=repr)
    lines += sorted(Team.objects.values_list("name", "manager__username", "territory__name"), key=repr)
    lines += sorted(
        Rep.objects.values_list("user__username", "team__name", "territory__name", "is_active", "hired_on"),
        key=repr,
    )
    lines += sorted(
        RepAssignment.objects.values_list(
            "rep__user__username", "team__name", "territory__name", "starts_on"
        ),
        key=repr,
    )
    lines += sorted(Product.objects.values_list("name", "category", "list_price"), key=repr)
    lines += sorted(Account.objects.values_list("name", "region__name", "segment"), key=repr)
    lines += sorted(
        Deal.objects.values_list(
            "name",
            "owner__user__username",
            "account__name",
            "product__name",
            "amount",
            "revenue_type",
            "stage__name",
            "opened_on",
            "expected_close_on",
            "closed_on",
        ),
        key=repr,
    )
    lines += sorted(
        DealStageChange.objects.values_list(
            "deal__name", "changed_at", "from_stage__name", "to_stage__name", "by__username"
        ),
        key=repr,
    )
    lines += sorted(
        Activity.objects.values_list(
            "rep__user__username",
            "type__name",
            "occurred_at",
            "duration_minutes",
            "deal__name",
            "account__name",
        ),
        key=repr,
    )
    for model in (Quota, Projection):
        lines += sorted(
            model.objects.values_list(
                "rep__user__username", "team__name", "period_kind", "period_start", "amount"
            ),
            key=repr,
        )
    return hashlib.sha256("\n".join(map(repr, lines)).encode()).hexdigest()
