#!/usr/bin/env bash
# Installs the host packages fraudctl needs from Debian's archive when they are missing:
#   redis-server (the stack), and with --test also chromium (the dashboard's browser tests)
#   and tmux (terminal tests). Java 17+ and Maven are checked, and installed when missing.
# As root it uses apt-get; otherwise it says exactly what to install.
set -euo pipefail
MODE="${1:-}"

want=()
command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
command -v mvn >/dev/null 2>&1 || want+=(maven)
if ! command -v java >/dev/null 2>&1; then
  want+=(openjdk-17-jre-headless)
else
  major=$(java -version 2>&1 | sed -nE 's/.*version "([0-9]+)(\.([0-9]+))?.*/\1 \3/p' | head -1)
  set -- $major
  [ "${1:-0}" = "1" ] && major_num=${2:-0} || major_num=${1:-0}
  if [ "$major_num" -lt 17 ]; then want+=(openjdk-17-jre-headless); fi
fi
if [ "${MODE:-}" = "--test" ] || [ "${FRAUDCTL_TEST_DEPS:-}" = "1" ]; then
  command -v chromium >/dev/null 2>&1 || want+=(chromium)
  command -v tmux >/dev/null 2>&1 || want+=(tmux)
fi

if [ ${#want[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "fraudctl needs these packages: ${want[*]}" >&2
  echo "install them as root, e.g.: sudo apt-get update && sudo apt-get install -y ${want[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "fraudctl needs these packages: ${want[*]} (no apt-get here: use your package manager)" >&2
  exit 1
fi
echo "installing: ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
echo "system packages: installed ${want[*]}"
