#!/usr/bin/env bash
# Installs promtool (Debian's prometheus package) for the operations tests. The other
# validators (hadolint, yamllint, kubernetes-validate) come from PyPI with the test extra.
set -euo pipefail
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "promtool is missing: install Debian's 'prometheus' package (needs root)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y --no-install-recommends prometheus >/dev/null
  }
  # The package may start a server where an init system runs; the tests need only promtool.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
  fi
fi
promtool --version | head -1
