#!/usr/bin/env bash
# Install the third-party programs the tests drive as real clients (Debian packages), when
# missing. Idempotent and fast when everything is there; `make test` runs it before pytest.
#
# Add a tool by adding a "command:package" pair to TOOLS. Daemons (rsyslogd ...) are only
# installed, never started as services: each test runs its own instance in the foreground with
# a private configuration and work directory.
set -euo pipefail

TOOLS=(
    "logger:bsdutils"  # util-linux's logger: RFC 5424/3164 over UDP and TCP
    "rsyslogd:rsyslog" # forwards to the syslog listener (omfwd, octet counting)
    "chromium:chromium" # headless browser for the dashboard tests (driven by Playwright)
)

log() { printf 'test_tools.sh: %s\n' "$*"; }
die() {
    printf 'test_tools.sh: %s\n' "$*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# Debian's maintainer scripts start a package's daemon through invoke-rc.d; a policy-rc.d that
# answers 101 ("action forbidden") keeps them from starting a system-wide instance.
install_without_starting() {
    local policy=/usr/sbin/policy-rc.d created=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod +x "$policy"
        created=1
    fi
    local status=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || status=$?
    if [ "$created" -eq 1 ]; then
        as_root rm -f "$policy"
    fi
    return "$status"
}

missing=()
for pair in "${TOOLS[@]}"; do
    command="${pair%%:*}"
    package="${pair#*:}"
    # Daemons live in sbin, which a non-root PATH may lack.
    if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$command" >/dev/null 2>&1; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
command -v apt-get >/dev/null 2>&1 || die "cannot install ${missing[*]} (no apt-get); install by hand"
log "installing ${missing[*]} with apt-get ..."
as_root apt-get update -qq
install_without_starting "${missing[@]}"
for pair in "${TOOLS[@]}"; do
    command="${pair%%:*}"
    PATH="$PATH:/usr/sbin:/sbin" command -v "$command" >/dev/null 2>&1 ||
        die "${pair#*:} installed but $command is still missing"
done
log "installed ${missing[*]}"
