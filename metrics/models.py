"""Targets admins set (quotas, projections, activity targets).

Summary tables and run records join them here with the metrics engine.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from activities.rules import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS

from .periods import Period, PeriodKind


class PeriodTarget(models.Model):
    """A figure set for a rep or a team (exactly one of them) and a calendar period."""

    rep = models.ForeignKey(
        "activities.Rep",
        verbose_name=_("rep"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    team = models.ForeignKey(
        "activities.Team",
        verbose_name=_("team"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    period_kind = models.CharField(_("period kind"), max_length=7, choices=PeriodKind)
    period_start = models.DateField(
        _("period start"), help_text=_("The first day of the month, quarter or year.")
    )

    class Meta:
        abstract = True

    @property
    def period(self) -> Period:
        return Period(self.period_start, self.period_kind)

    @property
    def owner(self):
        return self.rep or self.team

    def clean(self):
        super().clean()
        if bool(self.rep_id) == bool(self.team_id):
            raise ValidationError({"rep": _("Choose either a rep or a team, not both and not neither.")})
        if (
            self.period_kind
            and self.period_start
            and not Period.is_period_start(self.period_start, self.period_kind)
        ):
            raise ValidationError(
                {
                    "period_start": _("%(day)s is not the first day of a %(kind)s.")
                    % {"day": self.period_start, "kind": PeriodKind(self.period_kind).label.lower()}
                }
            )

    @staticmethod
    def owner_constraints(prefix: str, extra_fields=()):
        return [
            models.CheckConstraint(
                condition=(Q(rep__isnull=False) & Q(team__isnull=True))
                | (Q(rep__isnull=True) & Q(team__isnull=False)),
                name=f"{prefix}_rep_xor_team",
                violation_error_message=_("Choose either a rep or a team, not both and not neither."),
            ),
            models.UniqueConstraint(
                fields=["rep", *extra_fields, "period_kind", "period_start"],
                condition=Q(rep__isnull=False),
                name=f"{prefix}_one_per_rep_period",
                violation_error_message=_("This rep already has one for this period."),
            ),
            models.UniqueConstraint(
                fields=["team", *extra_fields, "period_kind", "period_start"],
                condition=Q(team__isnull=False),
                name=f"{prefix}_one_per_team_period",
                violation_error_message=_("This team already has one for this period."),
            ),
        ]


class Quota(PeriodTarget):
    amount = models.DecimalField(
        _("amount"),
        max_digits=AMOUNT_MAX_DIGITS,
        decimal_places=AMOUNT_DECIMAL_PLACES,
        validators=[MinValueValidator(Decimal("0"))],
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-period_start", "period_kind"]
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")
        constraints = [
            *PeriodTarget.owner_constraints("quota"),
            models.CheckConstraint(
                condition=Q(amount__gte=0),
                name="quota_amount_not_negative",
                violation_error_message=_("The amount cannot be negative."),
            ),
        ]
        indexes = [models.Index(fields=["period_kind", "period_start"], name="quota_period_idx")]

    def __str__(self):
        return f"{self.owner} · {self.period}"


class Projection(PeriodTarget):
    amount = models.DecimalField(
        _("forecast revenue"),
        max_digits=AMOUNT_MAX_DIGITS,
        decimal_places=AMOUNT_DECIMAL_PLACES,
        validators=[MinValueValidator(Decimal("0"))],
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-period_start", "period_kind"]
        verbose_name = _("projection")
        verbose_name_plural = _("projections")
        constraints = [
            *PeriodTarget.owner_constraints("projection"),
            models.CheckConstraint(
                condition=Q(amount__gte=0),
                name="projection_amount_not_negative",
                violation_error_message=_("The amount cannot be negative."),
            ),
        ]
        indexes = [models.Index(fields=["period_kind", "period_start"], name="projection_period_idx")]

    def __str__(self):
        return f"{self.owner} · {self.period}"


class ActivityTarget(PeriodTarget):
    activity_type = models.ForeignKey(
        "activities.ActivityType",
        verbose_name=_("activity type"),
        on_delete=models.CASCADE,
        related_name="targets",
    )
    target_count = models.PositiveIntegerField(_("target count"))
    history = HistoricalRecords()

    class Meta:
        ordering = ["-period_start", "period_kind"]
        verbose_name = _("activity target")
        verbose_name_plural = _("activity targets")
        constraints = PeriodTarget.owner_constraints("activitytarget", ["activity_type"])

    def __str__(self):
        return f"{self.owner} · {self.activity_type} · {self.period}"


# --- summary tables -----------------------------------------------------------
# Filled only by metrics.rollup; pages and the API read nothing else.


class Scope(models.TextChoices):
    REP = "rep", _("Rep")
    TEAM = "team", _("Team")
    TERRITORY = "territory", _("Territory")
    COMPANY = "company", _("Company")


MONEY = {"max_digits": 16, "decimal_places": 2}


def slice_key(prefix: str, fields: list[str], nullable: str) -> list[models.UniqueConstraint]:
    """A unique key over `fields` + `nullable`, a nullable foreign key (NULL: "none", as 0).

    One index on expressions, since NULLs never collide in a plain one (and NULLS NOT DISTINCT
    is PostgreSQL 15+ only); its leading columns also serve the lookups by `fields`, so the
    table needs no other index for them (each index is paid on every row the engine writes).
    """
    return [
        models.UniqueConstraint(
            *(models.F(name) for name in fields),
            Coalesce(nullable, models.Value(0)),
            name=f"{prefix}_unique",
        )
    ]


def derived_key(to: str, *, index: bool = False, **options) -> models.ForeignKey:
    """A foreign key of a summary table, with no constraint in the database.

    The engine writes these rows only from rows that exist (in the INSERT … SELECT that reads
    them), and Django still cascades deletes; checking a constraint per row cost more than
    writing the row (docs/scaling.md). No index of its own either, unless asked: the tables are
    read by day range or by rep, which their own indexes lead with; a cascade by team or type
    is a rare scan.
    """
    return models.ForeignKey(
        to, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=index, **options
    )


class RepDayActivity(models.Model):
    """Activities of one rep on one local day, per activity type."""

    rep = derived_key("activities.Rep")
    day = models.DateField()
    # The rep's team and territory on `day` (metrics.membership): what team rows are summed by.
    team = derived_key("activities.Team")
    territory = derived_key("activities.Territory", null=True, blank=True)
    activity_type = derived_key("activities.ActivityType")
    count = models.PositiveIntegerField()
    minutes = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("daily activity rollup")
        verbose_name_plural = _("daily activity rollups")
        constraints = [
            models.UniqueConstraint(fields=["day", "rep", "activity_type"], name="repdayactivity_unique")
        ]
        indexes = [models.Index(fields=["rep", "day"], name="repdayactivity_rep_day_idx")]

    def __str__(self):
        return f"{self.rep_id} · {self.day} · {self.activity_type_id}"


class RepDayDeal(models.Model):
    """Deals of one rep on one day, per product: opened that day, and won/lost that day."""

    rep = derived_key("activities.Rep")
    day = models.DateField()
    # The rep's team and territory on `day` (metrics.membership): what team rows are summed by.
    team = derived_key("activities.Team")
    territory = derived_key("activities.Territory", null=True, blank=True)
    product = derived_key("activities.Product", null=True, blank=True)
    deals_opened = models.PositiveIntegerField(default=0)
    pipeline_created = models.DecimalField(**MONEY, default=0)
    deals_won = models.PositiveIntegerField(default=0)
    deals_lost = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(**MONEY, default=0)

    class Meta:
        verbose_name = _("daily deal rollup")
        verbose_name_plural = _("daily deal rollups")
        indexes = [
            models.Index(fields=["day", "rep"], name="repdaydeal_day_rep_idx"),
        ]
        constraints = slice_key("repdaydeal", ["rep", "day"], "product")

    def __str__(self):
        return f"{self.rep_id} · {self.day} · {self.product_id}"


class RepDayReach(models.Model):
    """Deals of one rep opened on one day, by how far down the funnel each got.

    `reach_order` is the order of the highest open stage reached (-1: none);
    `won_stage` is set for deals now won. Funnel counts add up over days and reps,
    so every period's funnel is a sum of these rows.
    """

    rep = derived_key("activities.Rep")
    day = models.DateField()
    # The rep's team and territory on `day` (metrics.membership): what team rows are summed by.
    team = derived_key("activities.Team")
    territory = derived_key("activities.Territory", null=True, blank=True)
    reach_order = models.IntegerField()
    won_stage = derived_key("activities.Stage", null=True, blank=True)
    deals = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("daily funnel rollup")
        verbose_name_plural = _("daily funnel rollups")
        indexes = [models.Index(fields=["day", "rep"], name="repdayreach_day_rep_idx")]
        constraints = slice_key("repdayreach", ["rep", "day", "reach_order"], "won_stage")

    def __str__(self):
        return f"{self.rep_id} · {self.day} · {self.reach_order}"


class PeriodSlice(models.Model):
    """Columns shared by every per-period table: which scope object and which period."""

    scope = models.CharField(max_length=9, choices=Scope)
    # Rep, team or territory id; 0 for the company.
    scope_id = models.BigIntegerField()
    period_kind = models.CharField(max_length=7, choices=PeriodKind)
    period_start = models.DateField()

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.scope} {self.scope_id} · {self.period}"

    @property
    def period(self) -> Period:
        return Period(self.period_start, self.period_kind)


class PeriodMetric(PeriodSlice):
    """Every figure of one scope object for one period. NULL means undefined, never 0."""

    revenue = models.DecimalField(**MONEY, default=0)
    deals_won = models.PositiveIntegerField(default=0)
    deals_lost = models.PositiveIntegerField(default=0)
    win_rate = models.FloatField(null=True)
    avg_deal_size = models.DecimalField(**MONEY, null=True)
    deals_opened = models.PositiveIntegerField(default=0)
    pipeline_created = models.DecimalField(**MONEY, default=0)
    quota = models.DecimalField(**MONEY, null=True)
    attainment = models.FloatField(null=True)
    projection = models.DecimalField(**MONEY, null=True)
    weighted_pipeline = models.DecimalField(**MONEY, default=0)
    activity_count = models.PositiveIntegerField(default=0)
    activity_minutes = models.PositiveBigIntegerField(default=0)
    selling_minutes = models.PositiveBigIntegerField(default=0)
    selling_time_share = models.FloatField(null=True)
    reps_with_quota = models.PositiveIntegerField(null=True)
    reps_at_quota = models.PositiveIntegerField(null=True)
    reps_at_quota_share = models.FloatField(null=True)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("period metric")
        verbose_name_plural = _("period metrics")
        constraints = [
            models.UniqueConstraint(
                fields=["period_kind", "period_start", "scope", "scope_id"], name="periodmetric_unique"
            )
        ]


class PeriodActivityMix(PeriodSlice):
    activity_type = derived_key("activities.ActivityType")
    count = models.PositiveIntegerField()
    minutes = models.PositiveBigIntegerField()

    class Meta:
        verbose_name = _("period activity mix")
        verbose_name_plural = _("period activity mixes")
        constraints = [
            models.UniqueConstraint(
                fields=["period_kind", "period_start", "scope", "scope_id", "activity_type"],
                name="periodactivitymix_unique",
            )
        ]


class PeriodFunnel(PeriodSlice):
    stage = derived_key("activities.Stage")
    position = models.PositiveSmallIntegerField()
    reached = models.PositiveIntegerField()
    conversion = models.FloatField(null=True)
    leakage = models.FloatField(null=True)

    class Meta:
        verbose_name = _("period funnel stage")
        verbose_name_plural = _("period funnel stages")
        constraints = [
            models.UniqueConstraint(
                fields=["period_kind", "period_start", "scope", "scope_id", "stage"],
                name="periodfunnel_unique",
            )
        ]


class PeriodProduct(PeriodSlice):
    product = derived_key("activities.Product", null=True, blank=True)
    revenue = models.DecimalField(**MONEY)
    won_count = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("period product sales")
        verbose_name_plural = _("period product sales")
        constraints = slice_key(
            "periodproduct", ["period_kind", "period_start", "scope", "scope_id"], "product"
        )


class PeriodActivityImpact(PeriodSlice):
    activity_type = derived_key("activities.ActivityType")
    corr_revenue = models.FloatField(null=True)
    corr_win_rate = models.FloatField(null=True)
    n_revenue = models.PositiveIntegerField()
    n_win_rate = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("period activity impact")
        verbose_name_plural = _("period activity impacts")
        constraints = [
            models.UniqueConstraint(
                fields=["period_kind", "period_start", "scope", "scope_id", "activity_type"],
                name="periodactivityimpact_unique",
            )
        ]


# --- bookkeeping -----------------------------------------------------------------


class EngineCalendar(models.Model):
    """The fiscal calendar the period tables hold (one row; none: January, as before it existed).

    When SALESTRACK_FISCAL_YEAR_START_MONTH differs, the next run drops every quarter and year
    row and recomputes every period (metrics.jobs.follow_the_fiscal_calendar).
    """

    fiscal_year_start_month = models.PositiveSmallIntegerField(default=1)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("engine calendar")
        verbose_name_plural = _("engine calendar")

    def __str__(self):
        return str(self.fiscal_year_start_month)


class ChangedDay(models.Model):
    """A day whose raw rows changed since the last run (marked by services, cleared by runs).

    `only_rep` 0 marks every rep's rows of the day; a rep's id marks only that rep's (a saved
    activity or deal), so the incremental run rebuilds that rep's daily rows and the period
    rows of that rep, the teams and territories it was in and the company, not every rep's.
    """

    day = models.DateField()
    only_rep = models.PositiveBigIntegerField(_("only rep"), default=0)
    marked_at = models.DateTimeField()

    class Meta:
        verbose_name = _("changed day")
        verbose_name_plural = _("changed days")
        constraints = [models.UniqueConstraint(fields=["day", "only_rep"], name="changedday_unique")]

    def __str__(self):
        return self.day.isoformat() if not self.only_rep else f"{self.day.isoformat()} (rep {self.only_rep})"


class MetricRun(models.Model):
    """One run of the metrics engine, for admins to follow and for interrupted runs to redo."""

    class Kind(models.TextChoices):
        NIGHTLY = "nightly", _("Nightly")
        INCREMENTAL = "incremental", _("Incremental")
        BACKFILL = "backfill", _("Backfill")
        MANUAL = "manual", _("Manual")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        # Every slice but the ones listed in its problems was computed; their days stay marked.
        PARTIAL = "partial", _("Completed with problems")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=11, choices=Kind)
    status = models.CharField(_("status"), max_length=9, choices=Status, default=Status.RUNNING)
    first_day = models.DateField(_("first day"), null=True, blank=True)
    last_day = models.DateField(_("last day"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    rows_written = models.PositiveBigIntegerField(_("rows written"), default=0)
    # What went wrong, in words for admins; the traceback is in the log.
    error = models.TextField(_("error"), blank=True)
    # Set when the run starts and after every chunk: housekeeping ends a run whose worker died.
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("metrics run")
        verbose_name_plural = _("metrics runs")
        constraints = [
            # The run lock: at most one run is running, whichever entry point started it.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="running"), name="metricrun_one_running"
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.started_at:%Y-%m-%d %H:%M}"


class MetricRunProblem(models.Model):
    """A slice of a run that could not be computed (after its retries), in words for admins."""

    run = models.ForeignKey(MetricRun, on_delete=models.CASCADE, related_name="problems")
    slice = models.CharField(_("slice"), max_length=200)
    first_day = models.DateField(_("first day"))
    last_day = models.DateField(_("last day"))
    message = models.TextField(_("message"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=1)
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        ordering = ["first_day", "pk"]
        verbose_name = _("metrics run problem")
        verbose_name_plural = _("metrics run problems")

    def __str__(self):
        return f"{self.slice}: {self.message[:80]}"
