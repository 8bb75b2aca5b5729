#!/usr/bin/env bash
# Installs the Debian packages of the Dovecot peer the SMTP/IMAP client tests run against:
#   tests/peers/dovecot.sh          (as root; a no-op when Dovecot is already there)
# Only the binaries are wanted: the test writes its own configuration into a temporary directory
# and starts Dovecot itself, so the package's system service is kept from starting.
set -euo pipefail

PACKAGES=(dovecot-core dovecot-submissiond dovecot-imapd dovecot-lmtpd)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "dovecot.sh: ${missing[*]} missing; run as root (apt-get install) to install them" >&2
  exit 1
fi
command -v apt-get >/dev/null || { echo "dovecot.sh: apt-get not found; install ${missing[*]} by hand" >&2; exit 1; }

# invoke-rc.d asks policy-rc.d whether a service may start; 101 = no. Only ours is removed afterwards.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  own_policy=true
fi
cleanup() { if $own_policy; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# A package may still have started the service where no init system was there to ask; stop it, the
# tests need the ports and their own configuration.
if command -v doveadm >/dev/null && doveadm -c /etc/dovecot/dovecot.conf stop >/dev/null 2>&1; then
  echo "dovecot.sh: stopped the system Dovecot the package started" >&2
fi
echo "dovecot.sh: installed ${missing[*]}"
