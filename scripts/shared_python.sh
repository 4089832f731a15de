#!/bin/sh
# The Python `make venv` builds .venv with: the first python3.11 (else python3) on PATH that every user may run.
# Notebook kernels run under their streams' own OS users (llf/runner/kernel_user.py) and start from the venv's
# interpreter; one other users cannot reach (a pyenv under a 0700 /root) would leave every kernel running as the
# worker's user, with a warning in each task's log. Run as root, each candidate is tried as `nobody`; otherwise,
# or with no candidate that passes, the first one found is taken, as before.
set -u
first=""
for candidate in $(which -a python3.11 python3 2>/dev/null); do
    [ -n "$first" ] || first=$candidate
    if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null 2>&1; then
        break
    fi
    if (cd / && setpriv --reuid=65534 --regid=65534 --clear-groups "$candidate" -c "import ensurepip, venv") \
            >/dev/null 2>&1; then
        echo "$candidate"
        exit 0
    fi
done
echo "$first"
