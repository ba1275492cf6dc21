"""What reps log (activities, deals) and the organisation they log it in.

Models hold fields, constraints and small derived properties only; every write
with a business rule goes through `activities.services`.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .rules import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS, DURATION_MAX, DURATION_MIN, NOTES_MAX_LENGTH


class User(AbstractUser):
    """A person who signs in. Roles are the groups `rep`, `manager` and `admin`."""

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.get_full_name() or self.username


class Territory(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("territory")
        verbose_name_plural = _("territories")

    def __str__(self):
        return self.name


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("manager"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="managed_teams",
    )
    territory = models.ForeignKey(
        Territory,
        verbose_name=_("territory"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="teams",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.name


class Rep(models.Model):
    """The sales profile of a user with the rep role."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="rep",
    )
    team = models.ForeignKey(Team, verbose_name=_("team"), on_delete=models.PROTECT, related_name="reps")
    territory = models.ForeignKey(
        Territory,
        verbose_name=_("territory"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reps",
    )
    is_active = models.BooleanField(_("active"), default=True)
    hired_on = models.DateField(_("hire date"), null=True, blank=True)

    class Meta:
        ordering = ["user__first_name", "user__last_name", "user__username"]
        verbose_name = _("rep")
        verbose_name_plural = _("reps")
        indexes = [models.Index(fields=["team", "is_active"])]

    def __str__(self):
        return str(self.user)

    @property
    def name(self):
        return str(self.user)


class RepAssignment(models.Model):
    """A rep's team and territory from a day on, until the rep's next assignment.

    The figures credit each activity and closed deal to the team and territory of its rep on
    its day (docs/metrics.md, "Credit at the time"). A rep's first assignment has no day: it
    holds from the start, so a row dated before any move still has a team. `Rep.team` and
    `Rep.territory` are the assignment in effect today (access rules and forms read those);
    both are written by `activities.services.rep_move` only.
    """

    rep = models.ForeignKey(Rep, verbose_name=_("rep"), on_delete=models.CASCADE, related_name="assignments")
    team = models.ForeignKey(Team, verbose_name=_("team"), on_delete=models.PROTECT, related_name="+")
    territory = models.ForeignKey(
        Territory,
        verbose_name=_("territory"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    starts_on = models.DateField(_("from"), null=True, blank=True, help_text=_("Empty: from the start."))
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["rep", F("starts_on").asc(nulls_first=True)]
        verbose_name = _("team assignment")
        verbose_name_plural = _("team assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["rep", "starts_on"], condition=Q(starts_on__isnull=False), name="repassignment_unique"
            ),
            models.UniqueConstraint(
                fields=["rep"], condition=Q(starts_on__isnull=True), name="repassignment_one_first"
            ),
        ]

    def __str__(self):
        since = self.starts_on.isoformat() if self.starts_on else _("from the start")
        return f"{self.rep} · {self.team} · {since}"


class Product(models.Model):
    name = models.CharField(_("name"), max_length=120, unique=True)
    category = models.CharField(_("category"), max_length=100, blank=True)
    list_price = models.DecimalField(
        _("list price"),
        max_digits=AMOUNT_MAX_DIGITS,
        decimal_places=AMOUNT_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.CheckConstraint(
                condition=Q(list_price__isnull=True) | Q(list_price__gte=0),
                name="product_list_price_not_negative",
                violation_error_message=_("The list price cannot be negative."),
            )
        ]

    def __str__(self):
        return self.name


class Account(models.Model):
    """A customer."""

    class Segment(models.TextChoices):
        SMB = "smb", _("Small business")
        MID_MARKET = "mid", _("Mid-market")
        ENTERPRISE = "enterprise", _("Enterprise")
        PUBLIC = "public", _("Public sector")

    name = models.CharField(_("name"), max_length=200, unique=True)
    region = models.ForeignKey(
        Territory,
        verbose_name=_("region"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
    )
    segment = models.CharField(_("segment"), max_length=20, choices=Segment, blank=True)
    sector = models.CharField(_("sector"), max_length=100, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("account")
        verbose_name_plural = _("accounts")

    def __str__(self):
        return self.name


class Stage(models.Model):
    """A step of the pipeline, configured in admin."""

    class Kind(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    name = models.CharField(_("name"), max_length=60, unique=True)
    order = models.PositiveSmallIntegerField(_("order"), unique=True)
    win_probability = models.DecimalField(
        _("win probability"),
        max_digits=4,
        decimal_places=3,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text=_("A fraction between 0 and 1, e.g. 0.25 for 25 %."),
    )
    kind = models.CharField(_("kind"), max_length=4, choices=Kind, default=Kind.OPEN)

    class Meta:
        ordering = ["order"]
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        constraints = [
            models.CheckConstraint(
                condition=Q(win_probability__gte=0) & Q(win_probability__lte=1),
                name="stage_win_probability_0_1",
                violation_error_message=_("The win probability must lie between 0 and 1."),
            )
        ]

    def __str__(self):
        return self.name

    @property
    def is_closed(self):
        return self.kind != self.Kind.OPEN


def version_field():
    """Counts the saves of a row through the services: an edit made from an older version is refused
    (activities.services.StaleVersion), so two tabs or two clients never overwrite each other silently."""
    return models.PositiveIntegerField(_("version"), default=1, db_default=1, editable=False)


class Source(models.TextChoices):
    """Where a row came from; external_id is unique per source."""

    MANUAL = "manual", _("Manual")
    CRM = "crm", _("CRM import")
    ECOMMERCE = "ecommerce", _("E-commerce")
    API = "api", _("API")
    DEMO = "demo", _("Demo data")


class Deal(models.Model):
    class RevenueType(models.TextChoices):
        RECURRING = "recurring", _("Recurring")
        ONE_TIME = "one_time", _("One-time")
        CONTRACT = "contract", _("Contract")

    name = models.CharField(_("name"), max_length=200)
    owner = models.ForeignKey(Rep, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="deals")
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deals",
    )
    product = models.ForeignKey(
        Product,
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deals",
    )
    amount = models.DecimalField(
        _("amount"),
        max_digits=AMOUNT_MAX_DIGITS,
        decimal_places=AMOUNT_DECIMAL_PLACES,
        validators=[MinValueValidator(Decimal("0"))],
    )
    revenue_type = models.CharField(
        _("revenue type"), max_length=10, choices=RevenueType, default=RevenueType.ONE_TIME
    )
    source = models.CharField(_("source"), max_length=10, choices=Source, default=Source.MANUAL)
    stage = models.ForeignKey(Stage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="deals")
    opened_on = models.DateField(_("opened on"))
    expected_close_on = models.DateField(_("expected close"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    version = version_field()

    class Meta:
        ordering = ["-opened_on", "-id"]
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0),
                name="deal_amount_not_negative",
                violation_error_message=_("The amount cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=F("opened_on")),
                name="deal_closed_not_before_opened",
                violation_error_message=_("A deal cannot close before it was opened."),
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="deal_unique_external_id_per_source",
                violation_error_message=_("A deal with this external id already exists."),
            ),
        ]
        indexes = [
            # Per-rep lists and rollups by opening date (funnel cohorts).
            models.Index(fields=["owner", "opened_on"], name="deal_owner_opened_idx"),
            # The daily rows of a day or a month: deals opened then, whoever owns them.
            models.Index(fields=["opened_on"], name="deal_opened_idx"),
            # Revenue, won/lost counts: deals closed in a period.
            models.Index(fields=["closed_on", "stage"], name="deal_closed_stage_idx"),
            # Weighted pipeline: open deals by expected close.
            models.Index(fields=["stage", "expected_close_on"], name="deal_stage_expected_idx"),
        ]

    def __str__(self):
        return self.name


class DealStageChange(models.Model):
    """One move of a deal from a stage to another (from is empty when it opened)."""

    deal = models.ForeignKey(
        Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.ForeignKey(
        Stage,
        verbose_name=_("from stage"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    to_stage = models.ForeignKey(
        Stage, verbose_name=_("to stage"), on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed at"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["changed_at", "id"]
        verbose_name = _("deal stage change")
        verbose_name_plural = _("deal stage changes")
        indexes = [
            models.Index(fields=["deal", "changed_at"], name="stagechange_deal_at_idx"),
            models.Index(fields=["to_stage", "changed_at"], name="stagechange_to_at_idx"),
        ]

    def __str__(self):
        return f"{self.deal}: {self.from_stage or '—'} → {self.to_stage}"


class ActivityType(models.Model):
    name = models.CharField(_("name"), max_length=60, unique=True)
    is_selling = models.BooleanField(
        _("counts as selling time"),
        default=False,
    )
    default_duration = models.PositiveSmallIntegerField(
        _("default duration (minutes)"),
        default=15,
        validators=[MinValueValidator(DURATION_MIN), MaxValueValidator(DURATION_MAX)],
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("activity type")
        verbose_name_plural = _("activity types")
        constraints = [
            models.CheckConstraint(
                condition=Q(default_duration__gte=DURATION_MIN) & Q(default_duration__lte=DURATION_MAX),
                name="activitytype_default_duration_1_1440",
                violation_error_message=_("The default duration must lie between 1 and 1440 minutes."),
            )
        ]

    def __str__(self):
        return self.name


class Activity(models.Model):
    rep = models.ForeignKey(Rep, verbose_name=_("rep"), on_delete=models.PROTECT, related_name="activities")
    type = models.ForeignKey(
        ActivityType, verbose_name=_("type"), on_delete=models.PROTECT, related_name="activities"
    )
    occurred_at = models.DateTimeField(_("when"))
    duration_minutes = models.PositiveSmallIntegerField(
        _("duration (minutes)"),
        validators=[MinValueValidator(DURATION_MIN), MaxValueValidator(DURATION_MAX)],
    )
    deal = models.ForeignKey(
        Deal,
        verbose_name=_("deal"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
    )
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
    )
    outcome = models.CharField(_("outcome"), max_length=200, blank=True)
    notes = models.TextField(
        _("notes"),
        blank=True,
        max_length=NOTES_MAX_LENGTH,
        validators=[MaxLengthValidator(NOTES_MAX_LENGTH)],
    )
    source = models.CharField(_("source"), max_length=10, choices=Source, default=Source.MANUAL)
    external_id = models.CharField(_("external id"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    version = version_field()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=DURATION_MIN) & Q(duration_minutes__lte=DURATION_MAX),
                name="activity_duration_1_1440",
                violation_error_message=_("The duration must lie between 1 and 1440 minutes."),
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="activity_unique_external_id_per_source",
                violation_error_message=_("An activity with this external id already exists."),
            ),
        ]
        indexes = [
            # Per-rep lists and the daily rollup by rep and day.
            models.Index(fields=["rep", "occurred_at"], name="activity_rep_at_idx"),
            # The nightly job reads one day for everybody.
            models.Index(fields=["occurred_at"], name="activity_at_idx"),
        ]

    def __str__(self):
        return f"{self.type} · {self.rep}"


class ImportJob(models.Model):
    """One uploaded CSV/XLSX file and its run through the import engine (activities.imports).

    The upload page stores the file under SALESTRACK_IMPORT_DIR and creates the job;
    the Celery task `activities.run_import_job` runs it and records progress and the report.
    """

    class Kind(models.TextChoices):
        # The same values, in the same order, as activities.imports.KINDS.
        REPS = "reps", _("Reps and teams")
        PRODUCTS = "products", _("Products")
        ACCOUNTS = "accounts", _("Accounts")
        DEALS = "deals", _("Deals")
        STAGE_HISTORY = "stage_history", _("Deal stage history")
        ACTIVITIES = "activities", _("Activities")
        QUOTAS = "quotas", _("Quotas")
        PROJECTIONS = "projections", _("Projections")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed: errors in the file")
        ERROR = "error", _("Error")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind)
    original_filename = models.CharField(_("file name"), max_length=255)
    # A unique name relative to SALESTRACK_IMPORT_DIR (shared by web and worker); empty once removed.
    stored_file = models.CharField(_("stored file"), max_length=255, blank=True)
    mapping = models.JSONField(_("column mapping"), null=True, blank=True)
    dry_run = models.BooleanField(_("dry run (check only)"), default=False)
    from_dry_run = models.ForeignKey(
        "self",
        verbose_name=_("checked by dry run"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="real_runs",
    )
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.QUEUED)
    rows_done = models.PositiveIntegerField(_("rows done"), default=0)
    rows_total = models.PositiveIntegerField(_("rows in total"), null=True, blank=True)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("unchanged"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    report = models.JSONField(_("report"), null=True, blank=True)
    error = models.TextField(_("error message"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="import_jobs",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        indexes = [models.Index(fields=["created_by", "-created_at"], name="importjob_by_created_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.original_filename}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.ERROR)

    @property
    def percent(self) -> int | None:
        """Rows done as a whole percentage, or None while the total is unknown."""
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.rows_total:
            return None
        return min(100, self.rows_done * 100 // self.rows_total)
