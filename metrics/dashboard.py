"""What a dashboard shows, read from the summary tables only, in a fixed number of queries.

A dashboard is one scope object (a rep, a team, a territory or the company) over one
span (`metrics.spans.Span`). A calendar month, quarter or year is read from the
per-period tables the engine wrote; a day, a week or a custom range adds up the daily
tables (RepDayDeal, RepDayActivity, RepDayReach) in the database. Figures that exist only
per calendar period (quota, attainment, pace, projection, weighted pipeline, % of reps
at quota, activity impact) are undefined for the other spans, and say why.

Every function here costs one query (or a fixed few), whatever the number of reps: the
views call each once, and tests pin the page's total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from activities import access
from activities.models import Rep, Team, Territory

from . import formulas
from .membership import member_ids, reference_day
from .models import (
    ChangedDay,
    MetricRun,
    MetricRunProblem,
    PeriodActivityImpact,
    PeriodActivityMix,
    PeriodFunnel,
    PeriodMetric,
    PeriodProduct,
    RepDayActivity,
    RepDayDeal,
    RepDayReach,
    Scope,
)
from .periods import Period, PeriodKind
from .rollup import funnel_stages, funnel_steps, funnel_sums
from .selectors import COMPANY_ID, ScopeNotFound, scope_is_visible, user_name
from .spans import Span

# Activity impact is not shown when it rests on fewer reps than this (PRODUCT.md).
IMPACT_MIN_REPS = 5
TOP_PRODUCTS = 10
TREND_MONTHS = 12
TREND_QUARTERS = 8

MONEY, FRACTION, COUNT = "money", "fraction", "count"
ZERO = Decimal("0.00")


# --- the scope ------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeRef:
    scope: str
    scope_id: int
    name: str
    team_id: int | None = None  # a rep's team, for the way back up

    @property
    def key(self) -> str:
        return f"{self.scope}:{self.scope_id}"


def scope_ref(*, viewer, scope: str, scope_id: int) -> ScopeRef:
    """The scope object if the viewer may see it; ScopeNotFound otherwise (one or two queries)."""
    if scope not in Scope.values:
        raise ScopeNotFound((scope, scope_id))
    if not scope_is_visible(viewer=viewer, scope=scope, scope_id=scope_id):
        raise ScopeNotFound((scope, scope_id))
    if scope == Scope.COMPANY:
        return ScopeRef(scope, COMPANY_ID, _("Company"))
    if scope == Scope.REP:
        name, team_id = (
            Rep.objects.filter(pk=scope_id).annotate(n=user_name("user__")).values_list("n", "team_id")[0]
        )
        return ScopeRef(scope, scope_id, name, team_id)
    model = Team if scope == Scope.TEAM else Territory
    return ScopeRef(scope, scope_id, model.objects.values_list("name", flat=True).get(pk=scope_id))


def member_filter(ref: ScopeRef, prefix: str = "rep__") -> Q:
    """The scope's rows of a daily table (credited to its team or territory on their day), or,
    with prefix "", the reps it has now."""
    if ref.scope == Scope.COMPANY:
        return Q()
    if ref.scope == Scope.REP:
        return Q(**{f"{prefix}pk" if prefix else "pk": ref.scope_id})
    column = "team_id" if ref.scope == Scope.TEAM else "territory_id"
    return Q(**{column: ref.scope_id})


def members_of(ref: ScopeRef, span: Span):
    """The reps a team or territory counts in the span (its members on the span's reference
    day), as a subquery for `pk__in`."""
    column = "team_id" if ref.scope == Scope.TEAM else "territory_id"
    return member_ids(reference_day(span), column=column, scope_id=ref.scope_id)


# --- headline figures -----------------------------------------------------------------


FIGURE_FIELDS = (
    "revenue",
    "deals_won",
    "deals_lost",
    "win_rate",
    "avg_deal_size",
    "deals_opened",
    "pipeline_created",
    "quota",
    "attainment",
    "projection",
    "weighted_pipeline",
    "activity_count",
    "activity_minutes",
    "selling_minutes",
    "selling_time_share",
    "reps_at_quota_share",
    "reps_with_quota",
    "reps_at_quota",
)


def _empty_figures() -> dict:
    figures = dict.fromkeys(FIGURE_FIELDS)
    figures.update(
        revenue=ZERO,
        deals_won=0,
        deals_lost=0,
        deals_opened=0,
        pipeline_created=ZERO,
        activity_count=0,
        activity_minutes=0,
        selling_minutes=0,
    )
    return figures


# Figures a stretch of a period does not have (they are kept per whole period only).
WHOLE_PERIOD_ONLY = ("reps_at_quota_share", "weighted_pipeline")


def comparison_span(span: Span, today: date) -> Span:
    """What a span's figures are compared with: the whole span before it, or, while the span is
    under way, the same stretch of the span before. On 2 December, December so far (1–2) is
    compared with 1–2 November, not with all of November; on 30 March with 1–28 February."""
    previous = span.previous()
    if not span.first <= today < span.last:
        return previous
    last = min(previous.first + timedelta(days=(today - span.first).days), previous.last)
    return Span.between(previous.first, last)


def comparison_label(span: Span, compared: Span) -> str:
    """How a tile names what it is compared with: "November 2026", or "November 1 – November 2"
    for the same stretch of it (the month and day in the active language)."""
    if compared == span.previous():
        return compared.label
    first = formats.date_format(compared.first, "MONTH_DAY_FORMAT")
    if compared.first == compared.last:
        return first
    last = formats.date_format(compared.last, "MONTH_DAY_FORMAT")
    return _("%(first)s – %(last)s") % {"first": first, "last": last}


def figures_pair(ref: ScopeRef, span: Span, today: date | None = None) -> tuple[dict, dict, bool]:
    """The scope's figures for the span and for its comparison_span, and whether the span was
    computed. Calendar periods come from PeriodMetric (one query), other spans from the daily
    tables (two). The same stretch of a previous period has its attainment against that
    period's quota; figures only a whole period has (reps at quota, weighted pipeline) stay
    undefined for it."""
    today = today or timezone.localdate()
    compared = comparison_span(span, today)
    previous = span.previous()
    periods = [s for s in (span, previous) if s.period is not None]
    rows = {}
    if periods:
        rows = {
            row["period_start"]: row
            for row in PeriodMetric.objects.filter(
                scope=ref.scope,
                scope_id=ref.scope_id,
                period_kind=span.kind,
                period_start__in=[s.first for s in periods],
            ).values("period_start", *FIGURE_FIELDS)
        }
    from_days = [s for s in (span, compared) if s.period is None]
    quota = (rows.get(previous.first) or {}).get("quota") if compared != previous else None
    summed = _daily_figures(ref, from_days, {compared: quota})
    current = rows.get(span.first) if span.period is not None else summed[span]
    before = rows.get(compared.first) if compared.period is not None else summed[compared]
    computed = span.period is None or current is not None
    return current or _empty_figures(), before or _empty_figures(), computed


def _daily_figures(ref: ScopeRef, spans: list[Span], quotas: dict[Span, object]) -> dict[Span, dict]:
    """The figures of each span added up from the daily tables, in two queries for all of them;
    with a quota for a span, its attainment too."""
    if not spans:
        return {}
    first, last = min(s.first for s in spans), max(s.last for s in spans)
    deal_sums = RepDayDeal.objects.filter(member_filter(ref), day__gte=first, day__lte=last)
    activity_rows = RepDayActivity.objects.filter(member_filter(ref), day__gte=first, day__lte=last)
    deals, activity = {}, {}
    for index, s in enumerate(spans):
        within = Q(day__gte=s.first, day__lte=s.last)
        revenue = formulas.money(Sum("revenue", filter=within))
        won, lost = Sum("deals_won", filter=within), Sum("deals_lost", filter=within)
        deals.update(
            {
                f"revenue_{index}": revenue,
                f"deals_won_{index}": won,
                f"deals_lost_{index}": lost,
                f"deals_opened_{index}": Sum("deals_opened", filter=within),
                f"pipeline_created_{index}": formulas.money(Sum("pipeline_created", filter=within)),
                f"win_rate_{index}": formulas.win_rate(won, lost),
                f"avg_deal_size_{index}": formulas.avg_deal_size(revenue, won),
            }
        )
        if quotas.get(s) is not None:
            quota = Value(quotas[s], output_field=formulas.MONEY_FIELD)
            deals[f"attainment_{index}"] = formulas.attainment(Coalesce(revenue, Value(ZERO)), quota)
        minutes = Sum("minutes", filter=within)
        selling = Sum("minutes", filter=within & Q(activity_type__is_selling=True))
        activity.update(
            {
                f"activity_count_{index}": Sum("count", filter=within),
                f"activity_minutes_{index}": minutes,
                f"selling_minutes_{index}": selling,
                f"selling_time_share_{index}": formulas.selling_time_share(selling, minutes),
            }
        )
    found = {**deal_sums.aggregate(**deals), **activity_rows.aggregate(**activity)}
    result = {}
    for index, s in enumerate(spans):
        figures = _empty_figures()
        for name, value in found.items():
            base, _sep, suffix = name.rpartition("_")
            if suffix == str(index) and value is not None:
                figures[base] = value
        if quotas.get(s) is not None:
            figures["quota"] = quotas[s]
        result[s] = figures
    return result


def pace(figures: dict, span: Span, today: date) -> float | None:
    """Attainment so far ÷ the share of the span's days elapsed (PRODUCT.md); None without either."""
    return formulas.pace(figures.get("attainment"), span.elapsed_share(today))


@dataclass
class Tile:
    key: str
    label: str
    kind: str  # money, fraction or count
    value: object
    previous: object
    why: str = ""  # why the value is undefined, for the "—" tooltip
    delta: float | None = None  # relative change (money, count) or percentage points (fraction)
    help: str = ""
    # Why there is no change to show although the figure exists, when it is not "nothing then".
    compare_why: str = ""
    goal: Goal | None = None  # the attainment tile: revenue against the quota


@dataclass(frozen=True)
class Goal:
    """Progress towards a quota: done, to go and what the pace line expects by today."""

    done: Decimal
    target: Decimal
    expected: Decimal | None  # the quota × the share of the period elapsed; None once it is over

    @property
    def to_go(self) -> Decimal:
        return max(self.target - self.done, ZERO)

    @property
    def behind(self) -> bool:
        return self.expected is not None and self.done < self.expected


def goal_of(figures: dict, span: Span, today: date) -> Goal | None:
    """The quota tile's progress; None without a quota above zero."""
    quota = figures.get("quota")
    if not quota:
        return None
    share = span.elapsed_share(today)
    expected = (
        None if share >= 1 or today < span.first else (Decimal(quota) * Decimal(str(share))).quantize(ZERO)
    )
    return Goal(done=Decimal(figures.get("revenue") or ZERO), target=Decimal(quota), expected=expected)


def _delta(kind: str, value, previous) -> float | None:
    if value is None or previous is None:
        return None
    if kind == FRACTION:
        return (float(value) - float(previous)) * 100.0  # percentage points
    if not previous:
        return None
    return (float(value) - float(previous)) / float(previous) * 100.0


def tiles(ref: ScopeRef, span: Span, current: dict, previous: dict, today: date) -> list[Tile]:
    calendar = span.period is not None
    per_period = _("Defined per month, quarter or year only: choose a calendar period.")
    no_quota = _("No quota is set for this period.")
    specs = [
        ("revenue", _("Revenue"), MONEY, "", _("Sum of the deals won in the period.")),
        (
            "attainment",
            _("Quota attainment"),
            FRACTION,
            no_quota if calendar else per_period,
            _("Revenue ÷ quota."),
        ),
        (
            "pace",
            _("Pace"),
            FRACTION,
            (no_quota if calendar else per_period) if span.first <= today else _("The period has not begun."),
            _("Attainment so far ÷ share of the period elapsed (behind pace when below 100 %)."),
        ),
    ]
    if ref.scope != Scope.REP:
        specs.append(
            (
                "reps_at_quota_share",
                _("Reps at quota"),
                FRACTION,
                _("No rep has a quota for this period.") if calendar else per_period,
                _("Reps with attainment ≥ 100 % ÷ reps with a quota."),
            )
        )
    specs += [
        ("win_rate", _("Win rate"), FRACTION, _("No deal closed in this period."), _("Won ÷ (won + lost).")),
        (
            "avg_deal_size",
            _("Average deal size"),
            MONEY,
            _("No deal was won in this period."),
            _("Revenue ÷ deals won."),
        ),
        (
            "weighted_pipeline",
            _("Weighted pipeline"),
            MONEY,
            "" if calendar else per_period,
            _("Open deals expected to close in the period × their stage's win probability."),
        ),
        (
            "selling_time_share",
            _("Time selling"),
            FRACTION,
            _("No activity logged in this period."),
            _("Minutes of selling activities ÷ all minutes logged."),
        ),
    ]
    compared = comparison_span(span, today)
    partial = compared != span.previous()
    whole_only = _("Compared only between whole periods.")
    # The pace the period before had at the same point: its attainment then ÷ the same share.
    compared_share = compared.days / span.previous().days
    result = []
    for key, label, kind, why, help_text in specs:
        if key == "pace":
            value = pace(current, span, today)
            before = formulas.pace(previous.get("attainment"), compared_share)
        else:
            value, before = current.get(key), previous.get(key)
        if key == "weighted_pipeline" and not calendar:
            value = before = None
        result.append(
            Tile(
                key=key,
                label=label,
                kind=kind,
                value=value,
                previous=before,
                why=why if value is None else "",
                delta=_delta(kind, value, before),
                help=help_text,
                compare_why=whole_only if partial and key in WHOLE_PERIOD_ONLY else "",
                goal=goal_of(current, span, today) if key == "attainment" and calendar else None,
            )
        )
    return result


# --- charts ---------------------------------------------------------------------------


def cumulative_revenue(ref: ScopeRef, span: Span, figures: dict, today: date) -> dict:
    """Revenue added up over the span, with the straight lines to quota and projection.

    Days from RepDayDeal (one query); a year by month from PeriodMetric (one query).
    """
    if span.kind == PeriodKind.YEAR:
        rows = (
            PeriodMetric.objects.filter(
                scope=ref.scope,
                scope_id=ref.scope_id,
                period_kind=PeriodKind.MONTH,
                period_start__gte=span.first,
                period_start__lte=span.last,
            )
            .order_by("period_start")
            .values_list("period_start", "revenue")
        )
        by_step = {Period(start, PeriodKind.MONTH).last_day: revenue for start, revenue in rows}
        steps = [month.last_day for month in span.months()]
    else:
        rows = (
            RepDayDeal.objects.filter(member_filter(ref), day__gte=span.first, day__lte=span.last)
            .values("day")
            .annotate(revenue=Sum("revenue"))
            .order_by("day")
            .values_list("day", "revenue")
        )
        by_step = dict(rows)
        steps = [span.first + timedelta(days=n) for n in range(span.days)]
    x, actual, running = [], [], ZERO
    for step in steps:
        running += by_step.get(step, ZERO) or ZERO
        x.append(step.isoformat())
        # The actual line stops at today (a year's month is drawn once it has begun).
        begun = step <= today or (span.kind == PeriodKind.YEAR and step.replace(day=1) <= today)
        actual.append(float(running) if begun else None)

    def straight(total):
        if total is None:
            return None
        start = span.first - timedelta(days=1)
        return [float(total) * ((date.fromisoformat(day) - start).days / span.days) for day in x]

    return {
        "x": x,
        "actual": actual,
        "quota": straight(figures.get("quota")),
        "projection": straight(figures.get("projection")),
    }


def trend(ref: ScopeRef, span: Span) -> dict:
    """Average deal size and win rate by month (last 12) and quarter (last 8) up to the span's end."""
    last_month = Period.containing(span.last, PeriodKind.MONTH)
    last_quarter = Period.containing(span.last, PeriodKind.QUARTER)
    months, quarters = [last_month], [last_quarter]
    while len(months) < TREND_MONTHS:
        months.insert(0, months[0].previous())
    while len(quarters) < TREND_QUARTERS:
        quarters.insert(0, quarters[0].previous())
    rows = PeriodMetric.objects.filter(
        Q(period_kind=PeriodKind.MONTH, period_start__in=[p.start for p in months])
        | Q(period_kind=PeriodKind.QUARTER, period_start__in=[p.start for p in quarters]),
        scope=ref.scope,
        scope_id=ref.scope_id,
    ).values_list("period_kind", "period_start", "avg_deal_size", "win_rate", "deals_won", "deals_lost")
    found = {(kind, start): rest for kind, start, *rest in rows}

    def series(periods):
        out = {"x": [], "avg_deal_size": [], "win_rate": [], "closed": []}
        for period in periods:
            avg, rate, won, lost = found.get((period.kind, period.start), (None, None, 0, 0))
            out["x"].append(str(period))
            out["avg_deal_size"].append(None if avg is None else float(avg))
            out["win_rate"].append(rate)
            out["closed"].append(won + lost)
        return out

    return {"month": series(months), "quarter": series(quarters)}


@dataclass
class FunnelStep:
    stage_id: int
    stage: str
    kind: str
    reached: int
    conversion: float | None
    leakage: float | None


def funnel(ref: ScopeRef, span: Span) -> list[FunnelStep]:
    """The cohort of deals opened in the span, stage by stage (PRODUCT.md's reach rule)."""
    if span.period is not None:
        rows = (
            PeriodFunnel.objects.filter(
                scope=ref.scope, scope_id=ref.scope_id, period_kind=span.kind, period_start=span.first
            )
            .select_related("stage")
            .order_by("position")
        )
        return [
            FunnelStep(r.stage_id, r.stage.name, r.stage.kind, r.reached, r.conversion, r.leakage)
            for r in rows
        ]
    stages = funnel_stages()
    sums = {}
    if stages:
        days = RepDayReach.objects.filter(member_filter(ref), day__gte=span.first, day__lte=span.last)
        sums = days.aggregate(**funnel_sums(stages))
    return [
        FunnelStep(stage.pk, stage.name, stage.kind, reached, conversion, leakage)
        for stage, _position, reached, conversion, leakage in funnel_steps(stages, sums)
    ]


def activity_mix(ref: ScopeRef, span: Span) -> list[dict]:
    """Count and minutes per activity type, most logged first (one query)."""
    if span.period is not None:
        rows = PeriodActivityMix.objects.filter(
            scope=ref.scope, scope_id=ref.scope_id, period_kind=span.kind, period_start=span.first
        ).values("activity_type_id", "count", "minutes")
    else:
        rows = (
            RepDayActivity.objects.filter(member_filter(ref), day__gte=span.first, day__lte=span.last)
            .values("activity_type_id")
            .annotate(count=Sum("count"), minutes=Sum("minutes"))
        )
    rows = rows.annotate(
        name=F("activity_type__name"),
        is_selling=F("activity_type__is_selling"),
        order=F("activity_type__order"),
    ).order_by("-count", "order")
    return list(rows)


def activity_impact(ref: ScopeRef, span: Span) -> tuple[list[dict], str]:
    """Correlations per activity type (calendar periods, scopes above a rep), and why when none."""
    if ref.scope == Scope.REP:
        return [], _("Activity impact compares reps, so it is shown for teams, territories and the company.")
    if span.period is None:
        return [], _("Defined per month, quarter or year only: choose a calendar period.")
    rows = list(
        PeriodActivityImpact.objects.filter(
            scope=ref.scope, scope_id=ref.scope_id, period_kind=span.kind, period_start=span.first
        )
        .annotate(name=F("activity_type__name"), order=F("activity_type__order"))
        .order_by("order", "name")
        .values("name", "corr_revenue", "corr_win_rate", "n_revenue", "n_win_rate")
    )
    for row in rows:
        # Not shown below IMPACT_MIN_REPS reps (PRODUCT.md): too few to mean anything.
        if row["n_revenue"] < IMPACT_MIN_REPS:
            row["corr_revenue"] = None
        if row["n_win_rate"] < IMPACT_MIN_REPS:
            row["corr_win_rate"] = None
    return rows, "" if rows else _("Not computed for this period yet.")


def top_products(ref: ScopeRef, span: Span) -> list[dict]:
    """Revenue and deals won per product, best first (deals without a product as "No product")."""
    if span.period is not None:
        rows = PeriodProduct.objects.filter(
            scope=ref.scope, scope_id=ref.scope_id, period_kind=span.kind, period_start=span.first
        ).values("product_id", "revenue", "won_count")
    else:
        rows = (
            RepDayDeal.objects.filter(member_filter(ref), day__gte=span.first, day__lte=span.last)
            .values("product_id")
            .annotate(revenue=Sum("revenue"), won_count=Sum("deals_won"))
        )
    rows = (
        rows.filter(won_count__gt=0)
        .annotate(name=Coalesce(F("product__name"), Value(_("No product"))))
        .order_by("-revenue", "name")[:TOP_PRODUCTS]
    )
    return list(rows)


def regional_sales(ref: ScopeRef, span: Span, *, viewer) -> list[dict]:
    """Revenue per territory of the scope's reps (the company: every territory the viewer may see)."""
    if ref.scope == Scope.COMPANY and span.period is not None:
        rows = (
            PeriodMetric.objects.filter(
                scope=Scope.TERRITORY,
                period_kind=span.kind,
                period_start=span.first,
                scope_id__in=access.visible_territories(viewer).values("pk"),
            )
            .annotate(
                name=Subquery(
                    Territory.objects.filter(pk=OuterRef("scope_id")).order_by().values("name")[:1]
                ),
            )
            .values("name", "revenue")
        )
    else:
        rows = (
            RepDayDeal.objects.filter(member_filter(ref), day__gte=span.first, day__lte=span.last)
            .values(name=Coalesce(F("territory__name"), Value(_("No territory"))))
            .annotate(revenue=Sum("revenue"))
        )
    return sorted(rows, key=lambda row: (-(row["revenue"] or 0), row["name"] or ""))


# --- the table of the scope's members ---------------------------------------------------


def member_rows(ref: ScopeRef, span: Span, *, viewer, today: date) -> tuple[str, list[dict]]:
    """("rep" or "team", rows): a team's or territory's reps, or the company's teams (one query).

    Only members the viewer may see; each row has its name, figures and (calendar) pace.
    """
    if ref.scope == Scope.REP:
        return "", []
    member_scope = Scope.TEAM if ref.scope == Scope.COMPANY else Scope.REP
    if member_scope == Scope.TEAM:
        members = access.visible_teams(viewer)
        name_of = Subquery(Team.objects.filter(pk=OuterRef("scope_id")).order_by().values("name")[:1])
    else:
        members = access.visible_reps(viewer).filter(pk__in=members_of(ref, span))
        name_of = Subquery(
            Rep.objects.filter(pk=OuterRef("scope_id"))
            .order_by()
            .annotate(n=user_name("user__"))
            .values("n")[:1]
        )
    if span.period is not None:
        rows = list(
            PeriodMetric.objects.filter(
                scope=member_scope,
                period_kind=span.kind,
                period_start=span.first,
                scope_id__in=members.values("pk"),
            )
            .annotate(name=name_of)
            .order_by("-revenue", "name")
            .values("scope_id", "name", *FIGURE_FIELDS)
        )
        for row in rows:
            row["pace"] = pace(row, span, today)
        return member_scope, rows
    return member_scope, _range_member_rows(member_scope, members, span)


def _range_member_rows(member_scope: str, members: QuerySet, span: Span) -> list[dict]:
    """Per rep or team over a non-calendar span: sums of the daily tables in subqueries (one query)."""
    key = "rep_id" if member_scope == Scope.REP else "team_id"
    in_span = Q(day__gte=span.first, day__lte=span.last)

    def summed(model, column, extra=None):
        rows = (
            model.objects.filter(in_span & (extra or Q()), **{key: OuterRef("pk")})
            .values(key)
            .annotate(total=Sum(column))
            .values("total")
        )
        output = DecimalField(max_digits=16, decimal_places=2) if column in ("revenue",) else IntegerField()
        return Coalesce(Subquery(rows, output_field=output), Value(0), output_field=output)

    annotated = members.annotate(
        revenue=formulas.money(summed(RepDayDeal, "revenue")),
        deals_won=summed(RepDayDeal, "deals_won"),
        deals_lost=summed(RepDayDeal, "deals_lost"),
        activity_count=summed(RepDayActivity, "count"),
        activity_minutes=summed(RepDayActivity, "minutes"),
        selling_minutes=summed(RepDayActivity, "minutes", Q(activity_type__is_selling=True)),
    )
    annotated = annotated.annotate(
        member_name=user_name("user__") if member_scope == Scope.REP else F("name"),
        win_rate=formulas.win_rate(F("deals_won"), F("deals_lost")),
        avg_deal_size=formulas.avg_deal_size(F("revenue"), F("deals_won")),
        selling_time_share=formulas.selling_time_share(F("selling_minutes"), F("activity_minutes")),
    )
    rows = []
    for row in annotated.order_by("-revenue", "member_name").values(
        "pk",
        "member_name",
        "revenue",
        "deals_won",
        "deals_lost",
        "activity_count",
        "activity_minutes",
        "selling_minutes",
        "win_rate",
        "avg_deal_size",
        "selling_time_share",
    ):
        figures = _empty_figures()
        figures.update(row)
        figures["name"] = figures.pop("member_name")
        figures["scope_id"] = row["pk"]
        figures["pace"] = None
        rows.append(figures)
    return rows


# --- the rest of the page ------------------------------------------------------------------


@dataclass
class Freshness:
    computed_at: object  # datetime of the last run that completed (wholly or partly), or None
    running: bool
    pending_days: int
    last_failed: bool = False
    pending_since: object = None  # the oldest change not yet in the figures
    stale: list = field(default_factory=list)  # (first day, last day, since) not computed by the last run


def freshness() -> Freshness:
    """When the figures were last computed, whether a run is going, and what is not in them yet.

    Two queries (three after a partial run): the pages' query budgets count on it.
    """
    completed = [MetricRun.Status.SUCCEEDED, MetricRun.Status.PARTIAL]
    runs = MetricRun.objects.aggregate(
        done=Max("finished_at", filter=Q(status__in=completed)),
        partial=Max("finished_at", filter=Q(status=MetricRun.Status.PARTIAL)),
        running=Count("pk", filter=Q(status=MetricRun.Status.RUNNING)),
        failed=Max("finished_at", filter=Q(status=MetricRun.Status.FAILED)),
    )
    done, failed = runs["done"], runs["failed"]
    marks = ChangedDay.objects.aggregate(n=Count("pk"), since=Min("marked_at"))
    stale = []
    if done is not None and runs["partial"] == done:  # the last completed run left slices behind
        problems = MetricRunProblem.objects.filter(
            run__status=MetricRun.Status.PARTIAL, run__finished_at=done
        ).select_related("run")
        stale = [(p.first_day, p.last_day, p.run.started_at) for p in problems.order_by("pk")[:5]]
    return Freshness(
        computed_at=done,
        running=bool(runs["running"]),
        pending_days=marks["n"],
        last_failed=failed is not None and (done is None or failed > done),
        pending_since=marks["since"],
        stale=stale,
    )


def switcher_options(*, viewer, ref: ScopeRef) -> dict:
    """The scopes offered by the scope picker: company, teams, territories, and the current team's reps."""
    teams = list(access.visible_teams(viewer).order_by("name").values_list("pk", "name"))
    territories = list(access.visible_territories(viewer).order_by("name").values_list("pk", "name"))
    team_id = ref.scope_id if ref.scope == Scope.TEAM else ref.team_id
    reps = []
    if team_id is not None or ref.scope == Scope.REP:
        reps = list(
            access.visible_reps(viewer)
            .filter(Q(team_id=team_id) | Q(pk=ref.scope_id if ref.scope == Scope.REP else None))
            .annotate(n=user_name("user__"))
            .order_by("n")
            .values_list("pk", "n")
        )
    return {
        "company": access.role_of(viewer) is not None,
        "teams": teams,
        "territories": territories,
        "reps": reps,
    }


def scope_is_visible_company(viewer) -> bool:
    return access.role_of(viewer) is not None
