"""Issue 13 (密评): each audit event records its hash function; every existing row is SHA-256.

On PostgreSQL adding a column with a default writes no UPDATE, so the append-only trigger (0002)
is not involved; SQLite copies the table with the default filled in.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0005_verificationrun_heartbeat'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='hash_algorithm',
            field=models.CharField(choices=[('sha256', 'SHA-256'), ('sm3', 'SM3')], default='sha256', editable=False, max_length=10, verbose_name='哈希算法'),
        ),
    ]
