"""The import pages: upload a file, watch its job, read the report.

Who may import what (the organisation belongs to admins, see PRODUCT.md):
- admins import every kind: reps and teams, products, accounts, deals, deal stage history,
  activities, quotas, projections;
- managers import what their teams do: activities, deals and their history (the engine keeps the rows
  to the reps the importing user may see);
- reps and users without a role import nothing (403).
A job is seen by the person who started it and by admins; anyone else gets 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import floatformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from activities import access
from activities.models import ImportJob

from . import tasks
from .forms import ImportUploadForm
from .uploads import too_big_message, upload_refused

ALL_KINDS = tuple(ImportJob.Kind.values)
MANAGER_KINDS = access.MANAGER_IMPORT_KINDS
RECENT_JOBS = 25


def importable_kinds(user) -> tuple[str, ...]:
    if access.is_admin(user):
        return ALL_KINDS
    if access.is_manager(user):
        return MANAGER_KINDS
    return ()


def visible_import_jobs(user) -> QuerySet[ImportJob]:
    if access.is_admin(user):
        return ImportJob.objects.all()
    if not (user and user.is_authenticated):
        return ImportJob.objects.none()
    return ImportJob.objects.filter(created_by=user)


def _kinds_or_403(user) -> tuple[str, ...]:
    kinds = importable_kinds(user)
    if not kinds:
        raise PermissionDenied(_("Only managers and admins import files."))
    return kinds


@require_http_methods(["GET", "POST"])
def import_list(request):
    kinds = _kinds_or_403(request.user)
    status = 200
    if request.method == "POST":
        refused = upload_refused(request)
        if refused is not None:
            status = 413
            if not request.accepts("text/html"):
                return JsonResponse({"file": [too_big_message(refused)]}, status=status)
        form = ImportUploadForm(request.POST, request.FILES, kinds=kinds, refused=refused)
        if form.is_valid():
            data = form.cleaned_data
            job = tasks.import_job_create(
                kind=data["kind"],
                upload=data["file"],
                filename=data["file"].name,
                mapping=data["mapping"],
                dry_run=data["dry_run"],
                by=request.user,
            )
            return redirect("import_detail", pk=job.pk)
    else:
        form = ImportUploadForm(kinds=kinds)
    jobs = visible_import_jobs(request.user).select_related("created_by")[:RECENT_JOBS]
    return render(
        request,
        "imports/list.html",
        {"form": form, "jobs": jobs, "show_owner": access.is_admin(request.user), "kinds": kinds},
        status=status,
    )


def _job_or_404(request, pk: int) -> ImportJob:
    _kinds_or_403(request.user)
    return get_object_or_404(visible_import_jobs(request.user).select_related("created_by"), pk=pk)


def progress_text(job: ImportJob) -> str:
    if job.status == ImportJob.Status.QUEUED:
        return _("Waiting for a worker…")
    done = floatformat(job.rows_done, "g")
    if job.rows_total:
        return ngettext(
            "%(done)s of %(total)s row (%(percent)s %%)",
            "%(done)s of %(total)s rows (%(percent)s %%)",
            job.rows_total,
        ) % {
            "done": done,
            "total": floatformat(job.rows_total, "g"),
            "percent": job.percent,
        }
    return ngettext("%(done)s row read", "%(done)s rows read", job.rows_done) % {"done": done}


@require_GET
def import_detail(request, pk: int):
    job = _job_or_404(request, pk)
    report = job.report or {}
    return render(
        request,
        "imports/job.html",
        {
            "job": job,
            "report": report,
            "errors": report.get("errors") or [],
            "error_total": report.get("error_count", job.error_count),
            "warnings": report.get("warnings") or [],
            "warning_total": report.get("warning_count", 0),
            "can_run_for_real": job.kind in importable_kinds(request.user)
            and tasks.import_job_can_run_for_real(job=job),
            "real_run": job.real_runs.order_by("pk").first() if job.dry_run else None,
            "progress_text": progress_text(job),
        },
    )


@require_GET
def import_status(request, pk: int):
    job = _job_or_404(request, pk)
    return JsonResponse(
        {
            "id": job.pk,
            "status": job.status,
            "status_label": job.get_status_display(),
            "finished": job.is_finished,
            "rows_done": job.rows_done,
            "rows_total": job.rows_total,
            "percent": job.percent,
            "progress_text": progress_text(job),
            "created": job.created_count,
            "updated": job.updated_count,
            "unchanged": job.unchanged_count,
            "errors": job.error_count,
            "dry_run": job.dry_run,
        }
    )


@require_POST
def import_run_for_real(request, pk: int):
    job = _job_or_404(request, pk)
    if job.kind not in importable_kinds(request.user):
        raise PermissionDenied(_("You may not import this kind of file."))
    real = tasks.import_job_run_for_real(job=job, by=request.user)
    if real is None:
        messages.error(
            request, _("This dry run cannot be run for real (again); please upload the file anew.")
        )
        return redirect("import_detail", pk=job.pk)
    return redirect("import_detail", pk=real.pk)
