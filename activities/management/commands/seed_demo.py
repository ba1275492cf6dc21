"""`manage.py seed_demo`: replace the demo organisation and print how to sign in."""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from activities.access import ROLE_ADMIN, ROLE_MANAGER, ROLE_REP
from activities.demo import DemoRefused, demo_seed

ROLE_LABELS = {
    ROLE_ADMIN: gettext_lazy("admin"),
    ROLE_MANAGER: gettext_lazy("manager"),
    ROLE_REP: gettext_lazy("rep"),
}


class Command(BaseCommand):
    help = gettext_lazy(
        "Replace the demo organisation (teams, reps, deals, activities, quotas) with a new one "
        "ending today. The same arguments on the same day give the same data."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.description = str(self.help)  # argparse wants a str, not a lazy translation
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--reps", type=int, default=24, help=gettext_lazy("Number of reps (default 24)."))
        parser.add_argument(
            "--days", type=int, default=180, help=gettext_lazy("Days of history up to today (default 180).")
        )
        parser.add_argument("--seed", type=int, default=1, help=gettext_lazy("Random seed (default 1)."))
        parser.add_argument("--quiet", action="store_true", help=gettext_lazy("Show no progress bar."))
        parser.add_argument(
            "--force",
            action="store_true",
            help=gettext_lazy("Run even when SALESTRACK_ENV is production (replaces demo rows only)."),
        )

    def handle(self, *args, reps, days, seed, quiet, force, verbosity, **options):
        try:
            summary = demo_seed(
                reps=reps,
                days=days,
                seed=seed,
                allow_production=force,
                progress=None if quiet or verbosity == 0 else sys.stderr,
            )
        except DemoRefused as exc:
            raise CommandError(_("%(reason)s Add --force if you mean it.") % {"reason": exc}) from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if verbosity == 0:
            return

        def count(number: int) -> str:
            return number_format(number, force_grouping=True)

        parts = {
            "reps": ngettext("%(n)s rep", "%(n)s reps", summary.reps) % {"n": count(summary.reps)},
            "teams": ngettext("%(n)s team", "%(n)s teams", summary.teams) % {"n": count(summary.teams)},
            "activities": ngettext("%(n)s activity", "%(n)s activities", summary.activities)
            % {"n": count(summary.activities)},
            "deals": ngettext("%(n)s deal", "%(n)s deals", summary.deals) % {"n": count(summary.deals)},
            "days": ngettext("%(n)s day", "%(n)s days", summary.days) % {"n": count(summary.days)},
        }
        self.stdout.write(
            _("Demo data ready: %(reps)s in %(teams)s, %(activities)s, %(deals)s over %(days)s.") % parts
        )
        self.stdout.write(_("Sign in at %(url)s with:") % {"url": "http://127.0.0.1:8000/"})
        labels = [str(ROLE_LABELS[s.role]) for s in summary.sign_ins]
        label_width = max(len(label) for label in labels)
        name_width = max(len(s.username) for s in summary.sign_ins)
        for label, sign_in in zip(labels, summary.sign_ins, strict=True):
            self.stdout.write(
                f"  {label:<{label_width}}  {sign_in.username:<{name_width}} / {sign_in.password}"
            )
