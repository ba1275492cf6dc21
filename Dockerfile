# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# The lock pins every package with its hashes: exactly those files, nothing unlisted.
COPY requirements.txt .
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.txt && pip check

COPY . .
# collectstatic needs settings; any placeholder key will do at build time.
RUN SALESTRACK_ENV=production SECRET_KEY=build-only-placeholder-key-build-only-placeholder-key-000 \
    ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput \
 && useradd --system --uid 1000 salestrack && chown -R salestrack /app \
 && mkdir -p /var/lib/salestrack/imports && chown -R salestrack /var/lib/salestrack
USER salestrack

EXPOSE 8000
CMD ["gunicorn", "salestrack.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
