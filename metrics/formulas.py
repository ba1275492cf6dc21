"""Every ratio and derived figure, defined once as a database expression (docs/metrics.md).

The engine compiles them into its INSERT … SELECT statements (`compiled`), the leaderboards
and dashboards annotate querysets with them, so a figure is worked out the same way wherever
it is shown; pace, a figure of the moment, is the one plain function.
Each works on PostgreSQL and on SQLite alike: money is rounded to cents in SQL, and a half
cent rounds up on both (an average is taken in whole cents, not on SQLite's floats).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.db.models import BigIntegerField, DecimalField, Expression, FloatField, Value
from django.db.models.expressions import ExpressionWrapper, RawSQL
from django.db.models.functions import Cast, NullIf, Round
from django.db.models.sql.query import Query

from .models import MONEY

MONEY_FIELD = DecimalField(**MONEY)
_INTEGER = BigIntegerField()


def money(value) -> Expression:
    """An amount rounded to cents (sums of cents on SQLite are floats: this makes them exact)."""
    return Round(value, 2, output_field=MONEY_FIELD)


def cents(value) -> Expression:
    """An amount in whole cents."""
    return Cast(Round(value * Value(100)), _INTEGER)


def from_cents(value) -> Expression:
    return money(value * Value(Decimal("0.01"), output_field=MONEY_FIELD))


def ratio(numerator, denominator) -> Expression:
    """numerator ÷ denominator as a float; NULL (undefined) when the denominator is 0."""
    return Cast(numerator, FloatField()) / NullIf(denominator, Value(0))


def win_rate(won, lost) -> Expression:
    """Won ÷ (won + lost) closed deals; NULL with nothing closed."""
    return ratio(won, won + lost)


def avg_deal_size(revenue, won) -> Expression:
    """Revenue ÷ deals won, to the cent, a half cent up; NULL with nothing won."""
    whole_cents = ExpressionWrapper(
        (Value(2) * cents(revenue) + won) / (Value(2) * NullIf(won, Value(0))), output_field=_INTEGER
    )
    return from_cents(whole_cents)


def attainment(revenue, quota) -> Expression:
    """Revenue ÷ quota; NULL without a quota or with a quota of 0."""
    return Cast(revenue, FloatField()) / Cast(NullIf(quota, Value(0)), FloatField())


def selling_time_share(selling_minutes, minutes) -> Expression:
    """Minutes of selling activities ÷ minutes of all activities; NULL with none."""
    return ratio(selling_minutes, minutes)


def conversion(next_reached, reached) -> Expression:
    """Deals that reached the next funnel stage ÷ deals that reached this one; NULL when none
    reached this one, and for the last stage (no next one: `next_reached` NULL)."""
    return ratio(next_reached, reached)


def leakage(conversion) -> Expression:
    """1 − conversion: the share of a stage's deals that went no further; NULL with it."""
    return Value(1.0, output_field=FloatField()) - conversion


def weighted_pipeline(units) -> Expression:
    """Σ amount × win probability, from its exact units (cents × thousandths of probability,
    `weighted_units`) rounded to the cent, a half cent up."""
    return from_cents(ExpressionWrapper((units + Value(500)) / Value(1000), output_field=_INTEGER))


def weighted_units(amount, probability) -> Expression:
    """One deal's weighted amount in whole 1/100,000ths: exact on SQLite too."""
    return cents(amount) * Cast(Round(probability * Value(1000)), _INTEGER)


def pace(attainment: float | None, elapsed_share: float) -> float | None:
    """Attainment so far ÷ the share of the period's days elapsed (PRODUCT.md): 1.0 is on track.
    A figure of the moment, not stored: None without an attainment or before the period starts."""
    if attainment is None or not elapsed_share:
        return None
    return attainment / elapsed_share


def column(sql: str, output_field=None) -> RawSQL:
    """A column of a hand-written statement, to build a formula over."""
    return RawSQL(sql, [], output_field=output_field or _INTEGER)


def compiled(expression: Expression) -> tuple[str, list]:
    """SQL and parameters of a formula over `column`s, for a hand-written statement."""
    query = Query(None)
    resolved = expression.resolve_expression(query, allow_joins=False)
    return query.get_compiler(connection=connection).compile(resolved)
