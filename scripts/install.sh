#!/usr/bin/env bash
# Installs what Frostbyte needs on Debian 12 / Python 3.11: Debian packages, the venv at
# .venv/, then the hash-locked requirements (requirements/runtime.txt and dev.txt, torch's CPU
# build included) and this project. Skips every step that is already satisfied, so it also runs
# with no network at all once installed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.install-stamp"
LOCKS=(requirements/runtime.txt requirements/dev.txt)
want_stamp=$(cat "${LOCKS[@]}" pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)

# --- Debian packages ---------------------------------------------------------------------
debs=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || debs+=(postgresql-15)
# libmagic: MIME sniffing at intake. clamav-daemon (+ clamav's sigtool): the malware scanner
# the project starts per tenant; clamav-testfiles: the files its shipped signatures detect.
# tesseract: OCR for scanned PDFs and images. chromium: renders the HTML acceptance report
# in the end-to-end tests. nftables, openssh-server/-client: the namespace test hosts of
# `make test-hosts` (a host firewall from the tenant's policy, Ansible over SSH).
# antiword (0.6 MB): legacy Word 97-2003 .doc to text inside the parser child
# (data_plane/adapters/parsers/legacy_office.py says why not LibreOffice). pandoc for
# unstructured's ODT/EPUB fallback comes with pypandoc-binary in requirements/runtime.txt.
# nginx-light: each local tenant's TLS gateway (the image set's gateway runs the same server).
for pkg in libmagic1 clamav clamav-daemon clamav-testfiles tesseract-ocr tesseract-ocr-eng \
           chromium nftables openssh-server openssh-client antiword nginx-light; do
  dpkg -s "$pkg" >/dev/null 2>&1 || debs+=("$pkg")
done
if ((${#debs[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: need Debian packages ${debs[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "==> apt-get install ${debs[*]}"
  # Never let the package create and start a cluster on 5432: ours starts its own.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/frostbyte.conf
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start their services: Debian's freshclam would reach for the internet
  # and its clamd would run without signatures. The project runs its own clamd per tenant.
  policy_rc=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy_rc" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy_rc" && chmod 755 "$policy_rc" && own_policy=1
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${debs[@]}"
  [ "$own_policy" = 1 ] && rm -f "$policy_rc"
  for svc in clamav-daemon clamav-freshclam; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

# --- Python ------------------------------------------------------------------------------
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] && [ -x "$VENV/bin/frostbyte" ]; then
  echo "==> Python environment up to date (.venv)"
  exit 0
fi
[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# pip's output only matters when it fails (it warns about absent local indexes and editable
# installs on every run): keep it in a log and show it then.
quiet() {
  local log; log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; rm -f "$log"; return 1; fi
  rm -f "$log"
}
# Every file is checked against the lock's hashes; --no-deps: the lock is the whole set, so no
# resolver can add anything (torch is the CPU build from /opt/wheels, never CUDA's nvidia-*).
echo "==> pip install --require-hashes -r requirements/runtime.txt -r requirements/dev.txt"
quiet "${PIP[@]}" install -q --require-hashes --no-deps -r "${LOCKS[0]}" -r "${LOCKS[1]}"
quiet "${PIP[@]}" install -q --no-deps --no-build-isolation -e .
echo "$want_stamp" > "$STAMP"
echo "==> installed"
