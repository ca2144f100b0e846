from django.core.management.base import BaseCommand, CommandError

from audit.rules import CheckpointError
from audit.services import audit_chain_verify, audit_checkpoint_verify


class Command(BaseCommand):
    help = (
        "JL-A1: walk the audit hash chain and report the first broken link (exit status 1 if broken). "
        "With --checkpoint FILE (repeatable), also check each kept signed checkpoint against the log: "
        "signature valid, the log at least that long, and the event at its size has its head hash."
    )

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint", action="append", default=[], metavar="FILE",
                            help="a checkpoint file downloaded from the portal and kept (issue 11)")

    def handle(self, *args, **options):
        failures = []
        for path in options["checkpoint"]:
            try:
                with open(path, "rb") as handle:
                    raw = handle.read(1_000_000)
            except OSError as error:
                raise CommandError(f"JL-A1: 无法读取检查点文件 {path}：{error.strerror}") from None
            try:
                report = audit_checkpoint_verify(raw)
            except CheckpointError as error:
                failures.append(f"{path}：{error}")
                continue
            if report.intact:
                self.stdout.write(self.style.SUCCESS(f"{path}：{report.text}"))
            else:
                failures.append(f"{path}：{report.text}")
        report = audit_chain_verify()
        if not report.intact:
            failures.append(report.text)
        if failures:
            raise CommandError("\n".join(failures))
        self.stdout.write(self.style.SUCCESS(report.text))
