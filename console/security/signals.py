from axes.signals import user_locked_out
from django.dispatch import receiver

from console.audit import audit_record


@receiver(user_locked_out)
def _audit_lockout(sender, request, username=None, ip_address=None, **kwargs):
    # The username that was tried, never the password.
    audit_record(action="auth.lockout", actor_label=str(username or "anonymous")[:150], request=request)
