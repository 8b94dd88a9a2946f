from django.contrib import admin

from .models import ApiRateLimit


@admin.register(ApiRateLimit)
class ApiRateLimitAdmin(admin.ModelAdmin):
    list_display = ["app", "per_minute"]
    raw_id_fields = ["app"]


def _fields_changed(message) -> list[str]:
    """The field names of Django's change message (never values: a password hash stays out)."""
    fields: list[str] = []
    for part in message if isinstance(message, list) else []:
        for kind in ("changed", "added", "deleted"):
            detail = part.get(kind) if isinstance(part, dict) else None
            if isinstance(detail, dict):
                fields.extend(str(f) for f in detail.get("fields", []))
                if detail.get("name"):
                    fields.append(f"{kind} {detail['name']}")
    return fields[:50]


def _audit(request, action: str, model, obj_pk, obj_repr: str, **summary) -> None:
    from console.audit import audit_record

    audit_record(
        action=action,
        request=request,
        target=f"{model._meta.label} {obj_pk}: {obj_repr}"[:300],
        summary={"model": model._meta.label, "object": str(obj_pk), **summary},
    )


def audit_admin_site(site: admin.AdminSite) -> None:
    """Every change made in the Django admin (users, OTP devices, lockouts, rate limits...) is
    audited like a change made in the console: `admin.add`, `admin.change`, `admin.delete`."""
    for model, model_admin in site._registry.items():
        if getattr(model_admin, "_pushdeck_audited", False):
            continue
        addition, change, deletions = model_admin.log_addition, model_admin.log_change, model_admin.log_deletions

        def log_addition(request, obj, message, _orig=addition, _model=model):
            _audit(request, "admin.add", _model, obj.pk, str(obj)[:100])
            return _orig(request, obj, message)

        def log_change(request, obj, message, _orig=change, _model=model):
            _audit(request, "admin.change", _model, obj.pk, str(obj)[:100], fields=_fields_changed(message))
            return _orig(request, obj, message)

        def log_deletions(request, queryset, _orig=deletions, _model=model):
            for obj in queryset:
                _audit(request, "admin.delete", _model, obj.pk, str(obj)[:100])
            return _orig(request, queryset)

        model_admin.log_addition = log_addition
        model_admin.log_change = log_change
        model_admin.log_deletions = log_deletions
        model_admin._pushdeck_audited = True
