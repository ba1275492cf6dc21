"""Input and output serializers of the activities and deals API. They parse and shape; the services validate.

Input serializers only check what a service cannot (types, that an id names a row the caller
may pick); the business rules (1-1440 minutes, no closing before opening, nothing far in
the future, amounts not negative, unique external ids) stay in `activities.services`, whose
errors the views turn into `{field: [messages]}`.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from activities import access, rules
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

MAX_ID = 2**63 - 1


class ScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """An id the caller may pick: its queryset comes from `activities.access` for the request's user.

    An id outside it answers "does not exist", exactly like an unknown id, so nothing leaks.
    """

    def __init__(self, scope=None, **kwargs):
        self.scope = scope
        super().__init__(**kwargs)

    def get_queryset(self):
        if self.scope is None:
            return super().get_queryset()
        return self.scope(self.context["request"].user)

    def to_internal_value(self, data):
        # A number beyond the database's integers cannot name a row; don't send it there.
        if isinstance(data, int) and not isinstance(data, bool) and not 0 < data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        if isinstance(data, str) and data.isdigit() and int(data) > MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


def _all(model):
    return lambda user: model.objects.all()


# --- activities -------------------------------------------------------------


class ActivityInputSerializer(serializers.Serializer):
    """Log or edit an activity. On create the rep is the caller; `rep`, if sent, must be them."""

    rep = ScopedPrimaryKeyField(
        scope=access.visible_reps,
        queryset=Rep.objects.all(),
        required=False,
        help_text=_("Leave out: a rep logs their own activities. If sent, it must be the caller."),
    )
    type = ScopedPrimaryKeyField(scope=_all(ActivityType), queryset=ActivityType.objects.all())
    occurred_at = serializers.DateTimeField(
        required=False, help_text=_("Date and time; now if left out. Not more than a day ahead.")
    )
    duration_minutes = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text=_("1 to 1440; the type's default duration if left out."),
    )
    deal = ScopedPrimaryKeyField(
        scope=access.visible_deals,
        queryset=Deal.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("One of the caller's own deals."),
    )
    account = ScopedPrimaryKeyField(
        scope=access.selectable_accounts, queryset=Account.objects.all(), required=False, allow_null=True
    )
    outcome = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(
        max_length=rules.NOTES_MAX_LENGTH, required=False, allow_blank=True, trim_whitespace=False
    )
    source = serializers.ChoiceField(choices=Source.choices, required=False, help_text=_("api unless told."))
    external_id = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text=_("The id in the system the row comes from; unique per source."),
    )

    # Only these change on an edit (the services' rule); the others are fixed once logged.
    UPDATABLE = ("type", "occurred_at", "duration_minutes", "deal", "account", "outcome", "notes")

    def validate_rep(self, rep):
        if rep.user_id != self.context["request"].user.pk:
            raise serializers.ValidationError(_("A rep logs only their own activities."))
        return rep


VERSION_HELP = _(
    "The version you read (also the ETag of GET): a newer stored one answers 409 and nothing is saved. "
    'Or send If-Match: "<version>" (412). Leave both out to save whatever the row holds.'
)


class ActivityUpdateSerializer(ActivityInputSerializer):
    """Edit an activity: rep, source and external_id stay as logged."""

    version = serializers.IntegerField(required=False, min_value=1, help_text=VERSION_HELP)

    def get_fields(self):
        fields = super().get_fields()
        for name in ("rep", "source", "external_id"):
            fields.pop(name)
        return fields


class ActivitySerializer(serializers.ModelSerializer):
    rep_name = serializers.CharField(source="rep.name", read_only=True)
    type_name = serializers.CharField(source="type.name", read_only=True)

    class Meta:
        model = Activity
        fields = [
            "id",
            "rep",
            "rep_name",
            "type",
            "type_name",
            "occurred_at",
            "duration_minutes",
            "deal",
            "account",
            "outcome",
            "notes",
            "source",
            "external_id",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


# --- deals ------------------------------------------------------------------


class DealInputSerializer(serializers.Serializer):
    """Open a deal (in the first open stage unless `stage` says otherwise) or edit its details."""

    owner = ScopedPrimaryKeyField(
        scope=access.visible_reps,
        queryset=Rep.objects.all(),
        required=False,
        help_text=_("Leave out: a rep opens their own deals. If sent, it must be the caller."),
    )
    name = serializers.CharField(max_length=200)
    amount = serializers.DecimalField(
        max_digits=rules.AMOUNT_MAX_DIGITS,
        decimal_places=rules.AMOUNT_DECIMAL_PLACES,
        help_text=_("Not negative."),
    )
    account = ScopedPrimaryKeyField(
        scope=access.selectable_accounts, queryset=Account.objects.all(), required=False, allow_null=True
    )
    product = ScopedPrimaryKeyField(
        scope=_all(Product), queryset=Product.objects.all(), required=False, allow_null=True
    )
    revenue_type = serializers.ChoiceField(choices=Deal.RevenueType.choices, required=False)
    opened_on = serializers.DateField(required=False, help_text=_("Today if left out."))
    expected_close_on = serializers.DateField(required=False, allow_null=True)
    stage = ScopedPrimaryKeyField(
        scope=_all(Stage),
        queryset=Stage.objects.all(),
        required=False,
        help_text=_("On opening only (the first open stage if left out); later moves use /move/."),
    )
    closed_on = serializers.DateField(
        required=False,
        allow_null=True,
        help_text=_("On opening straight into a won or lost stage only."),
    )
    source = serializers.ChoiceField(choices=Source.choices, required=False, help_text=_("api unless told."))
    external_id = serializers.CharField(max_length=100, required=False, allow_blank=True)

    UPDATABLE = ("name", "amount", "account", "product", "revenue_type", "expected_close_on", "opened_on")

    def validate_owner(self, owner):
        if owner.user_id != self.context["request"].user.pk:
            raise serializers.ValidationError(_("A rep opens only their own deals."))
        return owner


class DealUpdateSerializer(DealInputSerializer):
    """Edit a deal's details; its stage (and closing date) only change through /move/."""

    version = serializers.IntegerField(required=False, min_value=1, help_text=VERSION_HELP)

    def get_fields(self):
        fields = super().get_fields()
        for name in ("owner", "stage", "closed_on", "source", "external_id"):
            fields.pop(name)
        return fields

    def validate(self, attrs):
        moved = [name for name in ("stage", "closed_on") if name in self.initial_data]
        if moved:
            raise serializers.ValidationError(
                {name: [_("Move the deal with POST /api/v1/deals/{id}/move/.")] for name in moved}
            )
        return attrs


class DealMoveSerializer(serializers.Serializer):
    stage = ScopedPrimaryKeyField(scope=_all(Stage), queryset=Stage.objects.all())
    closed_on = serializers.DateField(
        required=False,
        allow_null=True,
        help_text=_("Closing date when entering a won or lost stage; today if left out."),
    )
    amount = serializers.DecimalField(
        max_digits=rules.AMOUNT_MAX_DIGITS,
        decimal_places=rules.AMOUNT_DECIMAL_PLACES,
        required=False,
        allow_null=True,
        help_text=_("The final amount, confirmed on winning or losing."),
    )


class DealSerializer(serializers.ModelSerializer):
    owner_name = serializers.CharField(source="owner.name", read_only=True)
    stage_name = serializers.CharField(source="stage.name", read_only=True)
    # The stage's kind; a plain string so the schema has one enum for it (Stage.kind).
    status = serializers.CharField(source="stage.kind", read_only=True, help_text=_("open, won or lost."))

    class Meta:
        model = Deal
        fields = [
            "id",
            "name",
            "owner",
            "owner_name",
            "account",
            "product",
            "amount",
            "revenue_type",
            "source",
            "stage",
            "stage_name",
            "status",
            "opened_on",
            "expected_close_on",
            "closed_on",
            "external_id",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


class DealStageChangeSerializer(serializers.ModelSerializer):
    from_stage_name = serializers.CharField(source="from_stage.name", read_only=True, allow_null=True)
    to_stage_name = serializers.CharField(source="to_stage.name", read_only=True)
    by_name = serializers.SerializerMethodField()

    class Meta:
        model = DealStageChange
        fields = [
            "id",
            "from_stage",
            "from_stage_name",
            "to_stage",
            "to_stage_name",
            "changed_at",
            "by",
            "by_name",
        ]
        read_only_fields = fields

    def get_by_name(self, change) -> str | None:
        return str(change.by) if change.by_id else None


# --- bulk -------------------------------------------------------------------


class BulkInputSerializer(serializers.Serializer):
    """`{"items": [...]}`: each item is validated on its own, so every bad item is reported."""

    MAX_ITEMS = 1000

    # Any JSON per item here: an item that is not an object is reported at its index.
    items = serializers.ListField(min_length=1, max_length=MAX_ITEMS, help_text=_("1 to 1000 items."))


class ActivityBulkInputSerializer(BulkInputSerializer):
    """For the schema: the items are activities (parsed one by one with ActivityInputSerializer)."""

    items = serializers.ListField(child=ActivityInputSerializer(), min_length=1, max_length=1000)


class DealBulkInputSerializer(BulkInputSerializer):
    """For the schema: the items are deals (parsed one by one with DealInputSerializer)."""

    items = serializers.ListField(child=DealInputSerializer(), min_length=1, max_length=1000)


class BulkResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged"])


class BulkResultsSerializer(serializers.Serializer):
    results = BulkResultSerializer(many=True)


class BulkItemErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkErrorsSerializer(serializers.Serializer):
    errors = BulkItemErrorSerializer(many=True)


# --- the organisation (read only) ------------------------------------------


class RepSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Rep
        fields = ["id", "name", "username", "team", "territory", "is_active", "hired_on"]
        read_only_fields = fields


class RepAssignmentSerializer(serializers.ModelSerializer):
    starts_on = serializers.DateField(read_only=True, help_text=_("null: from the start."))

    class Meta:
        model = RepAssignment
        fields = ["team", "territory", "starts_on", "recorded_at"]
        read_only_fields = fields


class RepMoveSerializer(serializers.Serializer):
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all())
    territory = serializers.PrimaryKeyRelatedField(
        queryset=Territory.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("Left out: the new team's territory."),
    )
    moved_on = serializers.DateField(
        required=False,
        allow_null=True,
        help_text=_("The first day the rep counts for the new team (today or earlier); left out: today."),
    )


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "manager", "territory"]
        read_only_fields = fields


class TerritorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Territory
        fields = ["id", "name"]
        read_only_fields = fields


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["id", "name", "category", "list_price"]
        read_only_fields = fields


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "name", "region", "segment", "sector"]
        read_only_fields = fields


class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "order", "win_probability", "kind"]
        read_only_fields = fields


class ActivityTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ActivityType
        fields = ["id", "name", "is_selling", "default_duration", "order", "is_active"]
        read_only_fields = fields
