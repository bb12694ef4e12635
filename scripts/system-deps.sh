#!/usr/bin/env bash
# Installs the Debian packages esign uses (signing tools we check against, SoftHSM2, Chromium, fonts, wrk).
# Runs apt only when something is missing, so repeated `make` calls stay fast.
set -euo pipefail
need=()
check() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
check softhsm2-util softhsm2
check pdfsig poppler-utils
check pdftoppm poppler-utils
check xmlsec1 xmlsec1
check oathtool oathtool
check chromium chromium
check certutil libnss3-tools
check pkcs11-tool opensc
check wrk wrk  # bench/: an HTTP load generator in C, so the servers measured get the cores
check jq jq      # the guides' shell steps read JSON answers with jq (tests/docs runs them)
check curl curl
check nginx nginx  # deploy/: the reverse proxy in front of N server processes (tests/deploy starts one)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "esign needs these Debian packages: ${need[*]} (run as root or install them)" >&2
  exit 1
fi
echo "Installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
