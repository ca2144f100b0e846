from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_chain_verify


class Command(BaseCommand):
    help = "JL-A1: walk the audit hash chain and report the first broken link (exit status 1 if broken)."

    def handle(self, *args, **options):
        report = audit_chain_verify()
        if not report.intact:
            raise CommandError(report.text)
        self.stdout.write(self.style.SUCCESS(report.text))
