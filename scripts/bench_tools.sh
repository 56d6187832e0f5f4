#!/usr/bin/env bash
# Install the peers of the syslog benchmark (bench/syslog_kafka.py), all from Debian's packages,
# when missing. Idempotent and fast when everything is there.
#
#   * rsyslog + rsyslog-kafka (omkafka): installed with apt-get as usual.
#   * syslog-ng-core + syslog-ng-mod-rdkafka (kafka-c()): Debian makes syslog-ng-core and
#     rsyslog conflict (both provide system-log-daemon), so apt-get cannot install both. The two
#     syslog-ng packages are fetched with `apt-get download` and unpacked with `dpkg -x` into
#     .services/syslog-ng/root instead; their library dependencies (which conflict with nothing)
#     are installed with apt-get. The benchmark runs root/usr/sbin/syslog-ng with
#     LD_LIBRARY_PATH and --module-path pointing into that folder.
#
# No daemon is started: a policy-rc.d that answers 101 keeps maintainer scripts from starting
# a system-wide rsyslog, and the benchmark runs its own instances in the foreground with private
# configurations. Prints the syslog-ng root on its last line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SYSLOG_NG_DIR="$ROOT/.services/syslog-ng"
SYSLOG_NG_ROOT="$SYSLOG_NG_DIR/root"
SYSLOG_NG_PACKAGES=(syslog-ng-core syslog-ng-mod-rdkafka)
# Everything the two packages need at run time that a Debian 12 machine may lack.
APT_PACKAGES=(rsyslog rsyslog-kafka librdkafka1 libivykis0 libnet1 libwrap0 libpcre3)

log() { printf 'bench_tools.sh: %s\n' "$*" >&2; }
die() {
    log "$*"
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

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

updated=0
apt_update_once() {
    if [ "$updated" -eq 0 ]; then
        as_root apt-get update -qq
        updated=1
    fi
}

install_without_starting() {
    local policy=/usr/sbin/policy-rc.d created=0 status=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod +x "$policy"
        created=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || status=$?
    if [ "$created" -eq 1 ]; then
        as_root rm -f "$policy"
    fi
    return "$status"
}

missing=()
for package in "${APT_PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "cannot install ${missing[*]} (no apt-get)"
    log "installing ${missing[*]} with apt-get ..."
    apt_update_once
    install_without_starting "${missing[@]}"
fi

binary="$SYSLOG_NG_ROOT/usr/sbin/syslog-ng"
if [ ! -x "$binary" ] || ! compgen -G "$SYSLOG_NG_ROOT/usr/lib/syslog-ng/*/libkafka.so" >/dev/null; then
    log "unpacking ${SYSLOG_NG_PACKAGES[*]} into ${SYSLOG_NG_ROOT#"$ROOT"/} (not installed: they conflict with rsyslog) ..."
    apt_update_once
    rm -rf "$SYSLOG_NG_DIR"
    mkdir -p "$SYSLOG_NG_DIR/debs" "$SYSLOG_NG_ROOT"
    # apt-get download writes into the current folder; as root it needs a folder _apt can write.
    chmod 0777 "$SYSLOG_NG_DIR/debs"
    (cd "$SYSLOG_NG_DIR/debs" && apt-get download -qq "${SYSLOG_NG_PACKAGES[@]}")
    for deb in "$SYSLOG_NG_DIR"/debs/*.deb; do
        dpkg -x "$deb" "$SYSLOG_NG_ROOT"
    done
fi
[ -x "$binary" ] || die "no $binary after unpacking"
compgen -G "$SYSLOG_NG_ROOT/usr/lib/syslog-ng/*/libkafka.so" >/dev/null ||
    die "no kafka-c() module (libkafka.so) under $SYSLOG_NG_ROOT/usr/lib/syslog-ng"
command -v rsyslogd >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v rsyslogd >/dev/null 2>&1 ||
    die "rsyslog installed but rsyslogd is missing"
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so ] || compgen -G "/usr/lib/*/rsyslog/omkafka.so" >/dev/null ||
    die "rsyslog-kafka installed but omkafka.so is missing"
printf '%s\n' "$SYSLOG_NG_ROOT"
