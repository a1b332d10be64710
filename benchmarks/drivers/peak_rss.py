"""Run a command and write its peak RSS in KiB and its user and system CPU seconds to a
file, like GNU time's ``-f "%M %U %S" -o``
(the fallback of benchmarks/measure.py where GNU time is not installed).

    python -S peak_rss.py RSS_FILE COMMAND [ARG...]

The command is forked from this small process (never from the benchmark's own, larger
one), so the high-water mark wait4() reports starts at this interpreter's ~8 MiB.
"""

import os
import signal
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    rss_file, command = Path(argv[0]), argv[1:]
    pid = os.fork()
    if pid == 0:  # the child: become the command
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command decides about ^C
    _pid, status, usage = os.wait4(pid, 0)
    rss_file.write_text(f"{usage.ru_maxrss} {usage.ru_utime:.2f} {usage.ru_stime:.2f}\n")
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
