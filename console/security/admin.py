from django.contrib import admin

from .models import ApiRateLimit


@admin.register(ApiRateLimit)
class ApiRateLimitAdmin(admin.ModelAdmin):
    list_display = ["app", "per_minute"]
    raw_id_fields = ["app"]
