"""Admin of the API-token lock-out: see which addresses are counted or locked, delete to unlock."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import TokenFailure
from .tokens import is_locked


@admin.register(TokenFailure)
class TokenFailureAdmin(admin.ModelAdmin):
    list_display = ["ip_address", "failures", "first_failure_at", "last_failure_at", "locked"]
    search_fields = ["ip_address"]
    readonly_fields = list_display
    fields = list_display[:-1]

    @admin.display(boolean=True, description=_("locked out"))
    def locked(self, obj):
        return is_locked(obj)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
