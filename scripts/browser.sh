#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the dashboard's browser test (Playwright
# drives it; Playwright's own browser download needs internet access this project avoids).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
echo "[browser] installing Debian's chromium package" >&2
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
