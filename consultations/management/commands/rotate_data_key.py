"""``manage.py rotate_data_key``: re-encrypt patients' numbers under the current data key (JL-A2).

Put the new key first in ``TELEMED_DATA_KEYS`` (or the key file), keep the old one after it, run this;
once it reports nothing remaining, the old key may be removed. Resumable: each batch is its own
transaction and audit event (``security.data_key_rotate``), and a new run continues with whatever is
still on an old key. Also moves rows to a new ``TELEMED_DATA_CIPHER``. Once the patients are done, the
staff's SMS numbers (``notifications.NotificationPreference.phone``, issue 12) follow the same way.
"""

from django.core.management.base import BaseCommand, CommandError

from consultations.services import patient_data_key_rotate_batch
from notifications.services import notification_phone_rotate_batch
from telemed.context import use_context


class Command(BaseCommand):
    help = "JL-A2: re-encrypt identity and phone numbers still under an old data key, in batches (resumable)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")
        parser.add_argument("--max-batches", type=int, default=0, help="stop after this many batches (0: until done)")

    def handle(self, *args, batch_size: int, max_batches: int, **options):
        if batch_size < 1 or max_batches < 0:
            raise CommandError("--batch-size must be at least 1 and --max-batches at least 0")
        done = batches = 0
        with use_context(channel="command"):
            while True:
                batch = patient_data_key_rotate_batch(batch_size=batch_size)
                if not batch.rows:
                    break
                done += batch.rows
                batches += 1
                self.stdout.write(f"JL-A2 重新加密 re-encrypted {done} (key {batch.key_id}), 剩余 remaining {batch.remaining}")
                if not batch.remaining or (max_batches and batches >= max_batches):
                    break
        if batch.remaining:
            self.stdout.write(f"已暂停 paused: {batch.remaining} 行仍在旧密钥下 rows still on an old key; run again to continue")
            return
        with use_context(channel="command"):  # then the staff's SMS numbers (issue 12), the same way
            staff_done = 0
            while True:
                rows, remaining = notification_phone_rotate_batch(batch_size=batch_size)
                staff_done += rows
                if rows:
                    self.stdout.write(f"JL-A2 通知手机号码 staff SMS numbers re-encrypted {staff_done}, 剩余 remaining {remaining}")
                if not rows or not remaining:
                    break
        self.stdout.write(self.style.SUCCESS(f"完成 done: every patient is under data key {batch.key_id}"))
