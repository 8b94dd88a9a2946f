"""{% workspace_id %}: the WorkspaceId that, with the AppKey as AppId, names an app to the mPaaS SDK."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def workspace_id() -> str:
    return settings.PUSHDECK_WORKSPACE_ID
