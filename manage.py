#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")
    if sys.argv[1:2] in (["rundemo"], ["demo_totp"]):
        # The demonstration (README command 1) serves plain http on this machine: the one explicit
        # opt-out from HTTPS-only (JL-A2, telemed/transport.py), for it and the processes it starts,
        # and for demo_totp, which reads the demo's own database beside it.
        os.environ["TELEMED_ALLOW_HTTP"] = "1"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
