"""Run the metrics engine synchronously, with a progress bar.

manage.py compute_metrics                     # yesterday + every day marked changed
manage.py compute_metrics --date 2026-07-14   # one day and its periods
manage.py compute_metrics --since 2026-07-01 --until 2026-07-31
manage.py compute_metrics --all               # full backfill of every day with data

One run at a time, whoever starts it: if a run is in progress (a worker's, another
command's), this one waits for it (--wait SECONDS, default an hour; --wait 0 declines at once).
"""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from metrics import jobs
from metrics.models import MetricRun


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date: write YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "Recompute the metrics summary tables in this process."

    def add_arguments(self, parser):
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--date", type=_day, help="one day (YYYY-MM-DD)")
        what.add_argument("--since", type=_day, help="first day of a range (with --until)")
        what.add_argument("--all", action="store_true", help="every day that has data (full backfill)")
        parser.add_argument("--until", type=_day, help="last day of a range (default: today)")
        parser.add_argument(
            "--wait",
            type=float,
            default=3600,
            metavar="SECONDS",
            help="how long to wait for a run in progress before giving up (default 3600; 0: do not wait)",
        )

    def handle(self, *args, **options):
        if options["until"] and not options["since"]:
            raise CommandError("--until needs --since")
        if options["all"]:
            kind, days, clear = MetricRun.Kind.BACKFILL, jobs.all_days(), True
        elif options["date"]:
            kind, days, clear = MetricRun.Kind.MANUAL, [options["date"]], False
        elif options["since"]:
            until = options["until"] or timezone.localdate()
            if until < options["since"]:
                raise CommandError("--until is before --since")
            span = (until - options["since"]).days + 1
            kind, clear = MetricRun.Kind.MANUAL, False
            days = [options["since"] + timedelta(days=n) for n in range(span)]
        else:
            kind, days, clear = MetricRun.Kind.NIGHTLY, jobs.days_to_refresh(include_yesterday=True), True
        if not days:
            self.stdout.write("Nothing to compute: there is no data yet.")
            return
        plan_size = jobs.plan_for_days(days).total
        quiet = options["verbosity"] == 0
        if options["wait"] < 0:
            raise CommandError("--wait cannot be negative")
        current = jobs.run_current()
        if current is not None and options["wait"] and not quiet:
            self.stderr.write(f"Waiting for the metrics run in progress (#{current.pk}) to finish…")
        try:
            with tqdm(total=plan_size, unit="chunk", disable=quiet, file=self.stderr._out) as bar:
                run = jobs.run_sync(
                    kind=kind, days=days, clear_marks=clear, progress=bar.update, wait=options["wait"]
                )
        except jobs.RunInProgress as exc:
            raise CommandError(f"Not started: {exc}. Try again when it has finished.") from None
        for problem in run.problems.all():
            self.stderr.write(self.style.ERROR(f"Not computed: {problem.slice}: {problem.message}"))
        if run.status == MetricRun.Status.PARTIAL:
            raise CommandError(
                f"{run.problems.count()} slice(s) could not be computed (see above and the log); "
                "the rest was computed and their days stay marked for the next run."
            )
        if not quiet:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Computed {len(days)} day(s) from {days[0]} to {days[-1]}: "
                    f"{run.chunks_done} chunks, {run.rows_written:,} summary rows written."
                )
            )
