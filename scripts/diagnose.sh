#!/usr/bin/env bash
# Collect what support needs from a unit into one tarball: versions, selftest, effective config
# (secrets redacted by `config show`), sync status, recent service log, disk and database health.
# No plate data: before packing, `alpr-unit scrub` replaces every plate the unit stores (reads, hits,
# hotlists, holds, searched plates) by <plate> in every file of the bundle; if it cannot run, the
# journal (the one file that could carry plates from an older firmware) is left out.
#
#   sudo scripts/diagnose.sh [--config /etc/alpr-unit/unit.toml] [--out /tmp] [--user TECH [--provisioning]]
# --user: the technician's id on the agency roster, for the audit-chain check (an audited login);
# --provisioning on a unit that has no roster yet.
set -uo pipefail
CONFIG=/etc/alpr-unit/unit.toml
OUT=/tmp
TECH=
PROV=
while [ $# -gt 0 ]; do
  case "$1" in
    --config) CONFIG=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --user) TECH=$2; shift 2 ;;
    --provisioning) PROV=--provisioning; shift ;;
    *) echo "diagnose: unknown option $1" >&2; exit 2 ;;
  esac
done
ALPR=${ALPR:-/opt/alpr-unit/venv/bin/alpr-unit}
command -v "$ALPR" >/dev/null 2>&1 || ALPR="$(dirname "$0")/../.venv/bin/alpr-unit"
work=$(mktemp -d)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
{
  echo "time: $stamp"; uname -a; cat /proc/device-tree/model 2>/dev/null; echo
  "$ALPR" --version; python3 --version
  vcgencmd measure_temp 2>/dev/null; vcgencmd get_throttled 2>/dev/null
  df -h / /var/lib/alpr-unit 2>/dev/null; free -m; uptime
} > "$work/system.txt" 2>&1
"$ALPR" selftest --config "$CONFIG" --json > "$work/selftest.jsonl" 2>&1
"$ALPR" config show --config "$CONFIG" > "$work/config.json" 2>&1   # secrets redacted by config show
"$ALPR" sync status --config "$CONFIG" --json > "$work/sync.json" 2>&1
if [ -n "$TECH" ]; then
  "$ALPR" audit verify --config "$CONFIG" --json --user "$TECH" $PROV < /dev/null > "$work/audit-verify.json" 2>&1
else
  echo '{"skipped": "audit verify needs --user (a technician on the roster)"}' > "$work/audit-verify.json"
fi
JOURNALCTL=${JOURNALCTL:-journalctl}
"$JOURNALCTL" -u alpr-unit --since "-2h" -o cat 2>/dev/null | grep -v '"level": "DEBUG"' | tail -2000 > "$work/journal.jsonl"
if ! "$ALPR" scrub --config "$CONFIG" "$work" > "$work/.scrub.json" 2> "$work/.scrub.err"; then
  echo "diagnose: could not check the bundle for plates; journal left out" >&2
  rm -f "$work/journal.jsonl"
  echo "journal left out: plate scrub failed: $(head -c 500 "$work/.scrub.err")" > "$work/journal-omitted.txt"
fi
mv "$work/.scrub.json" "$work/scrub.json" 2>/dev/null; rm -f "$work/.scrub.err"
tar -czf "$OUT/alpr-diagnose-$stamp.tar.gz" -C "$work" .
rm -rf "$work"
echo "$OUT/alpr-diagnose-$stamp.tar.gz"
