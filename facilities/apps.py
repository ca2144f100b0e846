from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FacilitiesConfig(AppConfig):
    name = "facilities"
    verbose_name = _("医疗机构与医务人员")

    def ready(self):
        from . import checks, signin, twofactor  # noqa: F401  (registers the settings checks)

        signin.connect()  # JL-A2 sign-in audit events
        twofactor.connect()  # JL-A2 two-factor sign-in: which sessions need the second step
        from .metrics import events

        events.connect()  # issue 9: the dashboard's facts follow the audited writes
