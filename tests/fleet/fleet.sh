#!/usr/bin/env bash
# A fleet of real Debian 12 hosts on this machine for Molecule and playbook tests (needs root).
#
#   tests/fleet/fleet.sh image [--rebuild]   debootstrap the host image once, cached in .build/fleet/image
#   tests/fleet/fleet.sh up [N]              exactly N hosts fleet-1..fleet-N running (default 3);
#                                            prints the path of their Ansible inventory
#   tests/fleet/fleet.sh down [--all]        every host, mount, namespace and link removed
#   tests/fleet/fleet.sh inventory [PATH]    (re)write the inventory (default .build/fleet/slotS/inventory.yml)
#   tests/fleet/fleet.sh status              hosts of every slot, addresses, SSH, memory
#   tests/fleet/fleet.sh ssh HOST [CMD...]   a shell or a command on one host
# Option before the command: --slot S (or FLEET_SLOT=S), S from 0 to 9, default 0; `up --slot auto`
# takes a free slot from 1 to 9. Slots are independent fleets, so several Molecule runs can share the
# machine; slot S uses 10.231.(65+S).0/24, bridge m365fleetS, namespaces m365-fleetS-I.
#
# A host is a systemd-nspawn --boot container (real systemd: systemctl, unit files and restart
# handlers behave as on a server) on an overlay of the image, in its own network namespace with a
# veth on a private bridge in the root namespace. Where nspawn cannot run, the same overlay runs
# under plain namespaces with a small init that starts sshd (no systemd; FLEET_ENGINE=ns forces it).
# The addresses exist only on that bridge and in those namespaces: forwarding stays off, so no
# packet from a host leaves the machine, and the hosts have no internet (what a role installs must
# be in the image).
#
# Environment: FLEET_SLOT, FLEET_ENGINE=auto|nspawn|ns, FLEET_MIRROR (Debian mirror for debootstrap;
# default: the one apt uses on this machine).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=$ROOT/.build/fleet
IMAGE=$STATE/image
KEY=$STATE/ssh/id_ed25519

SUITE=bookworm
PACKAGES=openssh-server,python3,python3-apt,sudo,iproute2,procps,systemd,systemd-sysv,dbus,libpam-systemd
IMAGE_REVISION=1 # bump when fix_image changes, so cached images are rebuilt
SSH_OPTS=(-i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no
  -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=3)

# Names and addresses of one slot (interface names: at most 15 characters).
set_slot() {
  SLOT=$1
  NET=10.231.$((65 + SLOT))
  BRIDGE=m365fleet$SLOT
  PREFIX=m365-fleet$SLOT # network namespaces and nspawn machines: m365-fleet0-1, ...
  VETH=m365f${SLOT}h     # host side of each veth: m365f0h1, ...
  DIR=$STATE/slot$SLOT
  HOSTS=$DIR/hosts
  INVENTORY=$DIR/inventory.yml
}

say() { echo "fleet: $*" >&2; }
die() {
  say "$*"
  exit 1
}
host_ip() { echo "$NET.$((10 + $1))"; }

# Debian packages the controller needs, installed when missing.
need() { # need COMMAND PACKAGE...
  command -v "$1" >/dev/null && return 0
  shift
  [ "$(id -u)" -eq 0 ] || die "$* missing; run as root"
  say "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

# The Debian mirror apt uses on this machine, so no host name is written here.
mirror() {
  if [ -n "${FLEET_MIRROR:-}" ]; then
    echo "$FLEET_MIRROR"
    return
  fi
  local uri
  uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && u && / '"$SUITE"'( |$)/ {print u; exit}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "'"$SUITE"'" {print $2; exit}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  [ -n "$uri" ] || die "no Debian $SUITE mirror in apt's sources; set FLEET_MIRROR"
  echo "$uri"
}

# Locks (interface and namespace names are machine-wide): fd 8 for the image and the choice of a
# slot, fd 9 for one slot. The hosts' processes are started without them (8>&- 9>&-), or they would
# hold them.
take_lock() { # take_lock FD NAME
  mkdir -p /run/lock
  eval "exec $1>/run/lock/m365-fleet-$2.lock"
  flock -w 120 "$1" || die "another fleet command holds /run/lock/m365-fleet-$2.lock"
}

# ---------------------------------------------------------------------------------------------
# image

image_key() { echo "$SUITE $PACKAGES $IMAGE_REVISION"; }
image_ready() { [ -f "$IMAGE/ready" ] && [ "$(cat "$IMAGE/ready")" = "$(image_key)" ]; }

# Changes made once to the image; per-host files are written into each host's overlay by personalize.
fix_image() {
  local r=$1
  rm -f "$r"/etc/ssh/ssh_host_*
  rm -f "$r"/var/cache/apt/archives/*.deb
  : >"$r/etc/machine-id"
  # Nothing on a test host may block boot, wait on the network or hold the dpkg lock.
  local unit
  for unit in apt-daily.timer apt-daily-upgrade.timer systemd-firstboot.service console-getty.service \
    getty@.service systemd-networkd-wait-online.service systemd-timesyncd.service; do
    ln -sfn /dev/null "$r/etc/systemd/system/$unit"
  done
  # Fresh host keys are written per host; should any be missing, sshd makes them before it starts.
  mkdir -p "$r/etc/systemd/system/ssh.service.d"
  printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
    >"$r/etc/systemd/system/ssh.service.d/fleet-host-keys.conf"
  printf 'UseDNS no\nGSSAPIAuthentication no\nPermitRootLogin prohibit-password\n' \
    >"$r/etc/ssh/sshd_config.d/fleet.conf"
  # PID 1 under the plain-namespace engine (no systemd there): mounts, SysV services, waits.
  cat >"$r/usr/local/sbin/fleet-init" <<'EOF'
#!/bin/sh
# PID 1 of a fleet host run with plain namespaces (tests/fleet/fleet.sh, FLEET_ENGINE=ns).
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /dev
mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/tty c 5 0
mkdir -p /dev/pts /dev/shm /run/sshd /run/lock
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts && ln -s pts/ptmx /dev/ptmx
ln -s /proc/self/fd /dev/fd
hostname "$(cat /etc/hostname)"
for service in /etc/rc2.d/S*; do [ -x "$service" ] && "$service" start; done
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait; done
EOF
  chmod 755 "$r/usr/local/sbin/fleet-init"
}

cmd_image() {
  [ "$(id -u)" -eq 0 ] || die "image needs root"
  build_image "${1:-}"
}

# Takes the image lock (fd 8) and keeps it: a caller that goes on to start hosts releases it then.
build_image() {
  take_lock 8 image
  if [ "${1:-}" != --rebuild ] && image_ready; then
    say "image cached: $IMAGE/rootfs"
    return
  fi
  [ -z "$(all_slots_running)" ] || die "hosts are running on the image; run 'down --all' first"
  need debootstrap debootstrap
  local url tmp=$IMAGE.new
  url=$(mirror)
  say "debootstrap $SUITE (minbase + ${PACKAGES//,/ }) into $IMAGE; log in $STATE/image.log"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp/rootfs" "$url" \
    >"$STATE/image.log" 2>&1; then
    tail -20 "$STATE/image.log" >&2
    die "debootstrap failed (full log: $STATE/image.log)"
  fi
  fix_image "$tmp/rootfs"
  image_key >"$tmp/ready"
  rm -rf "$IMAGE"
  mv "$tmp" "$IMAGE"
  say "image ready: $(du -sh "$IMAGE/rootfs" | cut -f1)"
}

# ---------------------------------------------------------------------------------------------
# slots

# Slots with anything of theirs present: state, a bridge or a namespace.
used_slots() {
  {
    find "$STATE" -mindepth 1 -maxdepth 1 -name 'slot[0-9]' -printf '%f\n' 2>/dev/null | cut -c5 || true
    ip -o link show type bridge 2>/dev/null | sed -n 's/^[0-9]*: m365fleet\([0-9]\):.*/\1/p'
    ip netns list 2>/dev/null | sed -n 's/^m365-fleet\([0-9]\)-[0-9].*/\1/p'
  } | sort -nu
}

all_slots_running() {
  local s
  for s in $(used_slots); do
    (set_slot "$s" && running_hosts)
  done
}

# A free slot from 1 to 9 (0 is left to people's `make fleet-up`), claimed by creating its directory.
# The caller holds the lock on fd 8.
claim_slot() {
  local s
  for s in 1 2 3 4 5 6 7 8 9; do
    if ! used_slots | grep -qx "$s"; then
      mkdir -p "$STATE/slot$s"
      echo "$s"
      return
    fi
  done
  die "all fleet slots 1-9 are in use ('status' shows them, 'down --all' frees them)"
}

# ---------------------------------------------------------------------------------------------
# hosts

# Host numbers of the slot with state on disk or a namespace present.
host_numbers() {
  {
    find "$HOSTS" -mindepth 1 -maxdepth 1 -name 'fleet-[0-9]*' -printf '%f\n' 2>/dev/null | cut -d- -f2 || true
    ip netns list 2>/dev/null | sed -n "s/^$PREFIX-\([0-9]\+\)\( .*\)\?$/\1/p"
  } | sort -nu
}

running_hosts() {
  local i
  for i in $(host_numbers); do
    host_alive "$i" && echo "$i"
  done
  return 0
}

# The engine's process, when it is still ours (a pid file can outlive a reboot).
host_pid() {
  local f=$HOSTS/fleet-$1/pid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -d "/proc/$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$PREFIX-$1 " && echo "$pid"
}

host_alive() {
  host_pid "$1" >/dev/null && [ -e "/run/netns/$PREFIX-$1" ] && mountpoint -q "$HOSTS/fleet-$1/root"
}

host_ssh_ok() { ssh "${SSH_OPTS[@]}" "root@$(host_ip "$1")" true >/dev/null 2>&1; }

ensure_key() {
  [ -f "$KEY" ] && return
  mkdir -p "$(dirname "$KEY")"
  chmod 700 "$(dirname "$KEY")"
  ssh-keygen -q -t ed25519 -N '' -C "m365-fleet-controller" -f "$KEY"
}

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET.1/24" dev "$BRIDGE"
  fi
  # The hosts reach the controller and each other, nothing else: no forwarding, no IPv6 on the link.
  sysctl -qw "net.ipv4.conf.$BRIDGE.forwarding=0"
  sysctl -qw "net.ipv6.conf.$BRIDGE.disable_ipv6=1" 2>/dev/null || true
  ip link set "$BRIDGE" up
}

write_etc_hosts() { # write_etc_hosts ROOTFS N
  local i
  {
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
    for i in $(seq 1 "$2"); do printf '%s\tfleet-%s\n' "$(host_ip "$i")" "$i"; done
  } >"$1/etc/hosts"
}

# Per-host files, written into the host's overlay before it boots.
personalize() { # personalize I ROOTFS
  local i=$1 r=$2
  echo "fleet-$i" >"$r/etc/hostname"
  # Nothing listens on port 53 in the host's namespace: a lookup fails at once instead of timing out.
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$r/etc/resolv.conf"
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$r/etc/machine-id"
  echo >>"$r/etc/machine-id"
  rm -f "$r"/etc/ssh/ssh_host_*
  ssh-keygen -q -A -f "$r" >/dev/null
  install -d -m 700 "$r/root/.ssh"
  install -m 600 "$KEY.pub" "$r/root/.ssh/authorized_keys"
}

start_nspawn() { # start_nspawn I
  local dir=$HOSTS/fleet-$1
  need systemd-nspawn systemd-container
  # --register=no --keep-unit: this machine's PID 1 is not systemd, so there is no machined to ask.
  setsid systemd-nspawn --quiet --boot --directory="$dir/root" --machine="$PREFIX-$1" \
    --hostname="fleet-$1" --register=no --keep-unit --network-namespace-path="/run/netns/$PREFIX-$1" \
    --resolv-conf=off --timezone=off --link-journal=no --console=read-only \
    </dev/null >"$dir/console.log" 2>&1 8>&- 9>&- &
  echo $! >"$dir/pid"
}

start_ns() { # start_ns I
  local dir=$HOSTS/fleet-$1
  # The argument after the init is only there so host_pid recognises the process.
  setsid ip netns exec "$PREFIX-$1" unshare --mount --uts --ipc --pid --fork --propagation private \
    --root="$dir/root" /bin/sh /usr/local/sbin/fleet-init "$PREFIX-$1" \
    </dev/null >"$dir/console.log" 2>&1 8>&- 9>&- &
  echo $! >"$dir/pid"
}

host_up() { # host_up I ENGINE
  local i=$1 engine=$2 dir=$HOSTS/fleet-$1 ns=$PREFIX-$1
  if host_alive "$i"; then return; fi
  host_down "$i"
  mkdir -p "$dir/upper" "$dir/work" "$dir/root"
  mount -t overlay overlay -o "lowerdir=$IMAGE/rootfs,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
  personalize "$i" "$dir/root"
  ip netns add "$ns"
  ip link add "$VETH$i" type veth peer name eth0 netns "$ns"
  sysctl -qw "net.ipv6.conf.$VETH$i.disable_ipv6=1" 2>/dev/null || true
  ip link set "$VETH$i" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$(host_ip "$i")/24" dev eth0
  ip -n "$ns" link set eth0 up
  # A default route (else ansible_default_ipv4 is empty); the bridge does not forward, so it ends here.
  ip -n "$ns" route add default via "$NET.1"
  echo "$engine" >"$dir/engine"
  "start_$engine" "$i"
}

# Waits until every host in the list answers SSH; returns non-zero with the failures named.
wait_ssh() { # wait_ssh SECONDS I...
  local deadline=$((SECONDS + $1)) i pending
  shift
  pending=("$@")
  while [ ${#pending[@]} -gt 0 ]; do
    local left=()
    for i in "${pending[@]}"; do
      host_ssh_ok "$i" || left+=("$i")
    done
    pending=("${left[@]}")
    [ ${#pending[@]} -eq 0 ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      for i in "${pending[@]}"; do say "fleet-$i did not answer SSH; console: $HOSTS/fleet-$i/console.log"; done
      return 1
    fi
    for i in "${pending[@]}"; do
      host_pid "$i" >/dev/null || {
        say "fleet-$i stopped while booting; console log:"
        tail -15 "$HOSTS/fleet-$i/console.log" >&2
        return 1
      }
    done
    sleep 0.5
  done
}

# SIGKILL on everything in the host's namespace and on the engine (unshare ignores SIGTERM), then
# the overlay, namespace, veth, nspawn's leftovers under /run/systemd/nspawn and the state go.
host_down() { # host_down I
  local i=$1 dir=$HOSTS/fleet-$1 ns=$PREFIX-$1 pid pids lock=none
  pid=$(host_pid "$i" || true)
  # nspawn's lock on the root directory is named after its device and inode.
  if mountpoint -q "$dir/root" 2>/dev/null; then lock="inode-$(stat -c %d:%i "$dir/root")"; fi
  for _ in $(seq 1 50); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # the engine, until it is gone or a zombie (this machine's PID 1 reaps it in its own time)
    [ -n "$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" != Z ] && pids="$pids $pid"
    [ -z "${pids// /}" ] && break
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  if mountpoint -q "$dir/root" 2>/dev/null; then
    umount "$dir/root" 2>/dev/null || { sleep 0.5 && umount "$dir/root"; } || umount -l "$dir/root"
  fi
  ip link del "$VETH$i" 2>/dev/null || true
  [ -e "/run/netns/$ns" ] && ip netns del "$ns"
  rm -rf "/run/systemd/nspawn/propagate/$ns" "/run/systemd/nspawn/unix-export/$ns" \
    "/run/systemd/nspawn/locks/$lock"
  if [ -d "$dir" ]; then
    mountpoint -q "$dir/root" && die "$dir/root is still mounted; not removing it"
    rm -rf "$dir"
  fi
}

pick_engine() {
  local engine=${FLEET_ENGINE:-auto}
  if [ "$engine" = auto ] && [ -f "$DIR/engine" ]; then engine=$(cat "$DIR/engine"); fi
  case $engine in
  nspawn | ns) echo "$engine" ;;
  auto)
    # Try nspawn on host 1; fall back to plain namespaces if it does not come up.
    if need systemd-nspawn systemd-container >&2 && { host_up 1 nspawn && wait_ssh 30 1; } >&2; then
      echo nspawn
    else
      say "systemd-nspawn did not start a host; using plain namespaces (no systemd in the hosts)"
      host_down 1 >&2
      echo ns
    fi
    ;;
  *) die "FLEET_ENGINE must be auto, nspawn or ns" ;;
  esac
}

cmd_up() {
  local n=${1:-3} i engine
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 50 ] || die "up N: N from 1 to 50"
  [ "$(id -u)" -eq 0 ] || die "up needs root (namespaces, mounts, links)"
  need ssh openssh-client
  need ip iproute2
  need sysctl procps
  build_image
  if [ "$SLOT" = auto ]; then
    set_slot "$(claim_slot)"
    # A slot taken here is given back if the fleet does not come up: no caller knows it yet.
    trap '[ $? -eq 0 ] || { say "giving slot $SLOT back"; slot_down; }' EXIT
  fi
  take_lock 9 "slot$SLOT"
  exec 8>&- # image lock: hosts use the image from here on, a rebuild checks for them
  ensure_key
  ensure_bridge
  mkdir -p "$DIR"
  # Hosts beyond N go, so the fleet and its inventory are exactly fleet-1..fleet-N.
  for i in $(host_numbers); do
    [ "$i" -gt "$n" ] && host_down "$i"
  done
  engine=$(pick_engine)
  echo "$engine" >"$DIR/engine"
  for i in $(seq 1 "$n"); do
    host_up "$i" "$engine"
  done
  for i in $(seq 1 "$n"); do
    write_etc_hosts "$HOSTS/fleet-$i/root" "$n"
  done
  # shellcheck disable=SC2046 # host numbers
  wait_ssh 60 $(seq 1 "$n") || die "the fleet did not come up"
  write_inventory "$INVENTORY"
  say "slot $SLOT: $n host(s) up ($engine) on $NET.0/24"
  echo "$INVENTORY"
}

# Ends the SSH connections Ansible keeps open to the slot's hosts, so none outlives its host.
close_ssh_masters() {
  local socket
  for socket in "$DIR"/cp/* "$STATE"/cp/"$NET".*; do
    [ -S "$socket" ] && ssh -o ControlPath="$socket" -O exit fleet >/dev/null 2>&1 || true
  done
}

slot_down() {
  local i
  take_lock 9 "slot$SLOT"
  for i in $(host_numbers); do
    host_down "$i"
  done
  close_ssh_masters
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  rm -rf "$DIR"
  say "slot $SLOT down"
}

cmd_down() {
  local slots=$SLOT
  [ "${1:-}" = --all ] && slots=$(used_slots)
  if [ "$(id -u)" -ne 0 ]; then
    [ -z "$(used_slots)" ] || die "down needs root"
    return 0
  fi
  for SLOT in $slots; do
    (set_slot "$SLOT" && slot_down)
  done
  # nspawn's own directories, once no container of anyone else's uses them
  rmdir /run/systemd/nspawn/{propagate,unix-export,locks} /run/systemd/nspawn 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# inventory and status

write_inventory() { # write_inventory PATH
  local path=$1 i
  mkdir -p "$(dirname "$path")" "$DIR/cp"
  {
    echo "# Written by tests/fleet/fleet.sh; rewritten by every 'up'."
    echo "---"
    echo "fleet:"
    echo "  hosts:"
    for i in $(running_hosts); do
      echo "    fleet-$i:"
      echo "      ansible_host: $(host_ip "$i")"
    done
    echo "  vars:"
    echo "    fleet_slot: $SLOT"
    echo "    ansible_user: root"
    echo "    ansible_ssh_private_key_file: $KEY"
    echo "    ansible_ssh_common_args: >-"
    echo "      -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes"
    echo "    ansible_control_path_dir: $DIR/cp"
    echo "    ansible_python_interpreter: /usr/bin/python3"
  } >"$path"
}

cmd_inventory() {
  local path=${1:-$INVENTORY}
  [ -n "$(running_hosts)" ] || die "no hosts running in slot $SLOT; run 'up' first"
  write_inventory "$path"
  echo "$path"
}

# Proportional set size of everything in the host's namespace, in MiB.
host_memory() {
  local pid kb=0 v
  for pid in $(ip netns pids "$PREFIX-$1" 2>/dev/null); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || true)
    kb=$((kb + ${v:-0}))
  done
  echo $((kb / 1024))
}

cmd_status() {
  local s i state
  if image_ready; then say "image: $IMAGE/rootfs"; else say "image: not built"; fi
  [ -n "$(used_slots)" ] || {
    say "no hosts"
    return 0
  }
  printf '%-4s %-10s %-15s %-7s %-9s %s\n' SLOT HOST ADDRESS ENGINE STATE PSS_MIB
  for s in $(used_slots); do
    set_slot "$s"
    for i in $(host_numbers); do
      if ! host_alive "$i"; then
        state=stopped
      elif host_ssh_ok "$i"; then
        state=ssh-ok
      else
        state=no-ssh
      fi
      printf '%-4s %-10s %-15s %-7s %-9s %s\n' "$s" "fleet-$i" "$(host_ip "$i")" \
        "$(cat "$HOSTS/fleet-$i/engine" 2>/dev/null || echo -)" "$state" "$(host_memory "$i")"
    done
  done
}

cmd_ssh() {
  local name=${1:?ssh HOST [CMD...]}
  shift
  exec ssh "${SSH_OPTS[@]}" -o BatchMode=no "root@$(host_ip "${name#fleet-}")" "$@"
}

slot=${FLEET_SLOT:-0}
if [ "${1:-}" = --slot ]; then
  slot=${2:?--slot S}
  shift 2
fi
case $slot in
[0-9]) set_slot "$slot" ;;
auto) SLOT=auto ;;
*) die "slot: 0 to 9, or auto for up" ;;
esac
[ "$SLOT" != auto ] || [ "${1:-}" = up ] || die "--slot auto is for up only"

case ${1:-} in
image | up | down | inventory | status | ssh)
  command=$1
  shift
  "cmd_$command" "$@"
  ;;
*)
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
