"""``manage.py rotate_data_key``: re-encrypt patients' numbers under the current data key (JL-A2).

Put the new key first in ``TELEMED_DATA_KEYS`` (or the key file), keep the old one after it, run this;
once it reports nothing remaining, the old key may be removed. Resumable: each batch is its own
transaction and audit event (``security.data_key_rotate``), and a new run continues with whatever is
still on an old key. Also moves rows to a new ``TELEMED_DATA_CIPHER``. Once the patients are done, the
staff's SMS numbers (``notifications.NotificationPreference.phone``, issue 12) follow the same way.

Then the stored files (``telemed.storage``): every file written before encryption, or under an old key
or cipher, is written again under the current one — each file replaced whole, one audit event per
batch. Only for the portal's own encrypted storage; another backend keeps its files as they are.
"""

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from consultations.services import patient_data_key_rotate_batch
from notifications.services import notification_phone_rotate_batch
from telemed import storage as stored
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
        self.rotate_complaints(batch_size=batch_size)
        self.rotate_files(batch_size=batch_size)

    def rotate_complaints(self, *, batch_size: int) -> None:
        """JL-O6 complaints keep the complainant's phone encrypted too (``audit.Complaint``)."""
        from audit.complaints import complaint_data_key_rotate_batch

        done = 0
        with use_context(channel="command"):
            while True:
                rows, remaining = complaint_data_key_rotate_batch(batch_size=batch_size)
                done += rows
                if not rows or not remaining:
                    break
        self.stdout.write(self.style.SUCCESS(f"完成 done: {done} 条投诉人电话已重新加密 complainants' phones re-encrypted"))

    def rotate_files(self, *, batch_size: int) -> None:
        default_storage._setup()
        storage = default_storage._wrapped
        if not isinstance(storage, stored.EncryptedStorageMixin):
            self.stdout.write("文件存储不是本平台的加密存储，文件未处理 the file storage is not the portal's encrypted one: files left as they are")
            return
        pending: list[str] = []
        unreadable: list[str] = []
        done = 0
        with use_context(channel="command"):
            for name in storage.stored_names():
                if not storage.needs_rotation(name):
                    continue
                if not stored.readable(storage, name):
                    unreadable.append(name)  # its key is gone or it was damaged: left as it is, named below
                    continue
                pending.append(name)
                if len(pending) == batch_size:
                    done += stored.files_rotate_batch(storage=storage, names=pending)
                    pending = []
            done += stored.files_rotate_batch(storage=storage, names=pending)
        self.stdout.write(self.style.SUCCESS(f"完成 done: {done} 个文件已重新加密 files re-encrypted under the current data key"))
        if unreadable:
            shown = ", ".join(unreadable[:10]) + (" …" if len(unreadable) > 10 else "")
            self.stderr.write(
                f"JL-A2 {len(unreadable)} 个文件无法解密（密钥未配置或文件已损坏），未处理 files cannot be decrypted "
                f"(key not configured or file damaged) and were left as they are: {shown}"
            )
