"""Targets admins set (quotas, projections, activity targets).

Summary tables and run records join them here with the metrics engine.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

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
        _("amount"), max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
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
        max_digits=14,
        decimal_places=2,
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
