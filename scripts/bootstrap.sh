#!/usr/bin/env bash
# Brings a fresh machine to the point where `make test` / `make demo` can run:
# the Debian packages the project needs, uv, and the locked virtual environment.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the browser the bots drive (and its CJK font, so screenshots show
# Chinese), OpenSSH (the reference sshd/sftp of the SFTP benchmarks), and psql (the
# reference of the bulk-load benchmarks).
declare -A wanted=(
  [chromium]=/usr/bin/chromium
  [fonts-wqy-microhei]=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
  [openssh-server]=/usr/sbin/sshd
  [openssh-client]=/usr/bin/sftp
  [postgresql-client]=/usr/bin/psql
)
missing=()
for pkg in "${!wanted[@]}"; do
  [ -e "${wanted[$pkg]}" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
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
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
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
