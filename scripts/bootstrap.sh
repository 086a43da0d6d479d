#!/usr/bin/env bash
# Brings a fresh machine to the point where `make test` / `make demo` can run:
# the Debian packages the project needs, uv, and the locked virtual environment.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the browser the bots drive (and its CJK font, so screenshots show
# Chinese), OpenSSH (the reference sshd/sftp of the SFTP benchmarks), psql (the reference
# of the bulk-load benchmarks), and Prometheus with Alertmanager (promtool checks the
# alerting rules; the alert test runs both servers on loopback with its own config).
declare -A wanted=(
  [chromium]=/usr/bin/chromium
  [fonts-wqy-microhei]=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
  [openssh-server]=/usr/sbin/sshd
  [openssh-client]=/usr/bin/sftp
  [postgresql-client]=/usr/bin/psql
  [prometheus]=/usr/bin/promtool
  [prometheus-alertmanager]=/usr/bin/prometheus-alertmanager
)
# Services a package would start (and enable) on its default ports: the tests run their own
# instances, so the packaged ones are kept from starting when this script installs them, and
# installed without their recommends (the node exporter would be one more daemon on :9100).
services=(prometheus prometheus-alertmanager)
missing=()
for pkg in "${!wanted[@]}"; do
  [ -e "${wanted[$pkg]}" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    # another install (a second checkout setting itself up) may hold dpkg's lock: wait for it
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    # policy-rc.d 101: "no service may start now" (Debian's rule for installs that must not
    # start daemons), so no packaged Prometheus grabs :9090/:9093 during the install
    policy=/usr/sbin/policy-rc.d
    own_policy=no
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod +x "$policy"
      own_policy=yes
    fi
    plain=() lean=()
    for pkg in "${missing[@]}"; do
      if [[ " ${services[*]} " == *" $pkg "* ]]; then lean+=("$pkg"); else plain+=("$pkg"); fi
    done
    status=0
    if [ ${#plain[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${plain[@]}" >/dev/null || status=$?
    fi
    if [ "$status" -eq 0 ] && [ ${#lean[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        "${lean[@]}" >/dev/null || status=$?
    fi
    if [ "$own_policy" = yes ]; then rm -f "$policy"; fi
    [ "$status" -eq 0 ] || exit "$status"
    if [ -d /run/systemd/system ]; then  # a systemd host: not at boot either
      for unit in "${lean[@]}"; do
        systemctl disable --now "$unit" >/dev/null 2>&1 || true
      done
    fi
  else
    echo "bootstrap: missing Debian packages. Install them, then run make again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

install_uv() {
  # pip as it is (a pyenv or venv Python), then the user site, then Debian's own python3,
  # which refuses system-wide installs (PEP 668) unless told otherwise.
  python3 -m pip install --quiet uv 2>/dev/null && return 0
  python3 -m pip install --quiet --user uv 2>/dev/null && return 0
  python3 -m pip install --quiet --break-system-packages uv 2>/dev/null && return 0
  if [ "$(id -u)" -eq 0 ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq python3-pip >/dev/null
    python3 -m pip install --quiet --break-system-packages uv && return 0
  fi
  echo "bootstrap: could not install uv; install it (pipx install uv) and run make again" >&2
  return 1
}
export PATH="$HOME/.local/bin:$PATH"
if ! command -v uv >/dev/null 2>&1 && ! python3 -m uv --version >/dev/null 2>&1; then
  echo "bootstrap: installing uv"
  install_uv
fi
if command -v uv >/dev/null 2>&1; then UV=(uv); else UV=(python3 -m uv); fi

"${UV[@]}" sync --frozen --compile-bytecode --quiet
