#!/usr/bin/env bash
# The Debian packages the tests drive as real peers (Chromium for the console's browser tests, promtool;
# see the Makefile's APT_PACKAGES), installed with apt when missing. `start` begins the install in
# the background, so that `make test` downloads while lint and the first tiers run; `wait` blocks
# until it has finished and fails if it failed; `install` does both.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=.apt-install
mkdir -p "$STATE"
missing() {
  for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"; done
}
case "${1:-}" in
  start)
    shift
    rm -f "$STATE/rc"
    todo=$(missing "$@" | xargs)
    if [ -z "$todo" ]; then echo 0 > "$STATE/rc"; exit 0; fi
    echo "apt: installing $todo in the background (log: $STATE/log)"
    # shellcheck disable=SC2086
    nohup bash -c "(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $todo) > '$STATE/log' 2>&1; echo \$? > '$STATE/rc'" >/dev/null 2>&1 &
    ;;
  wait)
    shift
    if [ ! -e "$STATE/rc" ] && ! pgrep -f "apt-get install" >/dev/null; then
      # nothing running: start it now when something is missing (`make test-http` alone)
      if [ -z "$(missing "$@")" ]; then exit 0; fi
      "$0" start "$@"
    fi
    while [ ! -e "$STATE/rc" ]; do sleep 1; done
    rc=$(cat "$STATE/rc")
    if [ "$rc" != 0 ]; then cat "$STATE/log" >&2; echo "apt: installing failed ($rc)" >&2; exit "$rc"; fi
    todo=$(missing "$@" | xargs)
    if [ -n "$todo" ]; then echo "apt: still missing: $todo" >&2; exit 1; fi
    ;;
  install)
    shift
    "$0" start "$@"
    "$0" wait "$@"
    ;;
  *) echo "usage: $0 start|wait|install PACKAGE..." >&2; exit 2 ;;
esac
