from django.conf import settings

from .access import role_of


def viewer(request):
    """What every template needs about the signed-in user and the deployment."""
    user = getattr(request, "user", None)
    return {
        "viewer_role": role_of(user) if user is not None and user.is_authenticated else None,
        "currency": settings.SALESTRACK_CURRENCY,
    }
