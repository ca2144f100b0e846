"""``manage.py demo_totp USER``: the current two-factor code of a demonstration login (JL-A2).

For trying the demo only: ``seed_demo`` enrols the privileged demo logins (regulators, facility
administrators, the three administrators sysadmin, secadmin, auditadmin) with a TOTP device whose key is made per database; this command
shows the code an authenticator app would show now. It refuses any user outside the demonstration
data — a real user's second factor is their phone, never this command.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from facilities import demo_data as data


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


class Command(BaseCommand):
    help = "Print the current TOTP code of a demonstration login (seed_demo enrols them)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        if username not in {spec.username for spec in data.LOGINS}:
            raise CommandError(f"JL-A2: {username!r} is not a demonstration login; demo_totp only serves the demo data.")
        device = TOTPDevice.objects.filter(
            user__username=username, name=data.DEMO_TOTP_DEVICE_NAME, confirmed=True
        ).first()
        if device is None:
            raise CommandError(f"{username!r} has no demonstration TOTP device (run seed_demo; only regulators, "
                               "facility administrators and the three administrators get one).")
        self.stdout.write(current_code(device))
