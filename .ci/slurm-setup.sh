#!/usr/bin/env bash
# Single-node Slurm on loopback for the `slurm`-marked tests (tests/test_slurm.py).
#
# Installs slurm-wlm and munge with apt (only if missing), creates a munge key if
# missing, starts munged, writes a minimal slurm.conf (one node = this machine, one
# default partition `debug`, no cgroups, no accounting), starts slurmctld and slurmd
# directly (no systemd) and waits until the node is idle.
#
# Idempotent: running it again with daemons up and an unchanged config does nothing
# but check. It never fails CI: on any problem it prints why, writes the reason to
# $NA64_SLURM_UNAVAILABLE (default /tmp/na64-slurm-unavailable) and exits 0, and the
# Slurm test then skips with that reason. On success that file is removed.
set -uo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # slurmctld, slurmd, munged

REASON_FILE=${NA64_SLURM_UNAVAILABLE:-/tmp/na64-slurm-unavailable}
LOG=${NA64_SLURM_SETUP_LOG:-/tmp/na64-slurm-setup.log}
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
LOG_DIR=/var/log/slurm
PARTITION=debug
IDLE_TIMEOUT=${NA64_SLURM_IDLE_TIMEOUT:-60}
START=$(date +%s)

say() { echo "slurm-setup: $*"; }

unavailable() {
    # Print why Slurm is not usable, leave the reason for the test, and exit 0.
    local reason="$*"
    say "Slurm unavailable: $reason"
    printf '%s\n' "$reason" >"$REASON_FILE" 2>/dev/null || true
    if [[ -s $LOG ]]; then
        echo "slurm-setup: last lines of $LOG:"
        tail -n 15 "$LOG" | sed 's/^/    /'
    fi
    exit 0
}

: >"$LOG" 2>/dev/null || LOG=/dev/null
rm -f "$REASON_FILE"

if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
    command -v sudo >/dev/null && sudo -n true 2>/dev/null \
        || unavailable "not root and no passwordless sudo: cannot install or start Slurm daemons"
else
    SUDO=
fi

# --- 1. packages --------------------------------------------------------------------
missing=()
for bin in sinfo sbatch slurmctld slurmd; do command -v "$bin" >/dev/null || { missing+=(slurm-wlm); break; }; done
command -v munged >/dev/null || missing+=(munge)
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || unavailable "missing ${missing[*]} and no apt-get to install them"
    say "installing ${missing[*]} with apt-get (log: $LOG)"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' init scripts from starting daemons before slurm.conf exists
    # (a failing start would fail the install); this script starts them itself.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null \
            && $SUDO chmod 0755 /usr/sbin/policy-rc.d \
            && trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt_install() {
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}" >>"$LOG" 2>&1
    }
    if ! apt_install; then
        # Fresh machines often have empty package lists.
        $SUDO apt-get update -q >>"$LOG" 2>&1 || true
        apt_install || unavailable "apt-get install ${missing[*]} failed (see $LOG)"
    fi
fi
for bin in sinfo sbatch scontrol slurmctld slurmd munged; do
    command -v "$bin" >/dev/null || unavailable "$bin not found after installing slurm-wlm and munge"
done

# --- 2. munge -----------------------------------------------------------------------
MUNGE_USER=root
id munge >/dev/null 2>&1 && MUNGE_USER=munge
KEY=/etc/munge/munge.key
if [[ ! -s $KEY ]]; then
    say "creating munge key $KEY"
    $SUDO mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
        $SUDO mungekey --create --keyfile="$KEY" >>"$LOG" 2>&1 \
            || unavailable "cannot create munge key $KEY"
    else
        $SUDO dd if=/dev/urandom of="$KEY" bs=1 count=1024 status=none \
            || unavailable "cannot create munge key $KEY"
    fi
fi
$SUDO chown -R "$MUNGE_USER:" /etc/munge && $SUDO chmod 0700 /etc/munge && $SUDO chmod 0400 "$KEY"
$SUDO mkdir -p /run/munge /var/lib/munge /var/log/munge
$SUDO chown "$MUNGE_USER:" /run/munge /var/lib/munge /var/log/munge
$SUDO chmod 0755 /run/munge

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    say "starting munged"
    if [[ $MUNGE_USER == munge ]]; then
        $SUDO runuser -u munge -- munged >>"$LOG" 2>&1 || true
    else
        $SUDO munged --force >>"$LOG" 2>&1 || true
    fi
    for _ in $(seq 50); do munge_ok && break; sleep 0.2; done
    munge_ok || unavailable "munged did not start (munge -n | unmunge fails)"
fi

# --- 3. slurm.conf ------------------------------------------------------------------
HOST=$(hostname -s 2>/dev/null || hostname)
[[ -n $HOST ]] || HOST=localhost
# CPUs and memory as slurmd itself detects them, so that the node is never drained for
# "low memory/CPUs"; fall back to nproc and /proc/meminfo.
DETECTED=$(slurmd -C 2>/dev/null | head -n 1)
CPUS=$(sed -n 's/.*\bCPUs=\([0-9]\+\).*/\1/p' <<<"$DETECTED")
MEM=$(sed -n 's/.*\bRealMemory=\([0-9]\+\).*/\1/p' <<<"$DETECTED")
[[ -n $CPUS ]] || CPUS=$(nproc)
[[ -n $MEM ]] || MEM=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
# Leave the OS a little room; never below 1 GiB.
MEM=$((MEM > 2048 ? MEM - 512 : MEM))

NEW_CONF=$(mktemp)
cat >"$NEW_CONF" <<EOF
# Written by .ci/slurm-setup.sh: single-node Slurm on loopback for CI tests.
ClusterName=na64ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# No cgroups (containers): plain /proc process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Trust this file over hardware detection; bring the node back after restarts.
SlurmdParameters=config_overrides
ReturnToService=2
# Keep finished jobs visible to 'scontrol show job' for 10 minutes (the test checks them).
MinJobAge=600
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$HOST NodeAddr=127.0.0.1 NodeHostname=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

$SUDO mkdir -p "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
CHANGED=0
if ! cmp -s "$NEW_CONF" "$CONF"; then
    $SUDO cp "$NEW_CONF" "$CONF" && $SUDO chmod 0644 "$CONF" || unavailable "cannot write $CONF"
    CHANGED=1
    say "wrote $CONF (node $HOST: $CPUS CPUs, ${MEM} MB; partition $PARTITION)"
fi
rm -f "$NEW_CONF"

# --- 4. daemons ---------------------------------------------------------------------
running() {  # pidfile -> 0 if that process is alive
    local pid
    pid=$(cat "$1" 2>/dev/null) && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}
stop() {  # pidfile: stop the daemon this script started (by its pid only)
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
}
if ((CHANGED)); then
    # A new configuration: restart what an earlier run started.
    stop /run/slurmd.pid
    stop /run/slurmctld.pid
fi

if ! running /run/slurmctld.pid; then
    say "starting slurmctld"
    $SUDO slurmctld >>"$LOG" 2>&1 || unavailable "slurmctld failed to start (see $LOG_DIR/slurmctld.log)"
fi
for _ in $(seq 50); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
scontrol ping 2>/dev/null | grep -q UP \
    || unavailable "slurmctld is not responding (scontrol ping; see $LOG_DIR/slurmctld.log)"

if ! running /run/slurmd.pid; then
    say "starting slurmd"
    $SUDO slurmd >>"$LOG" 2>&1 || unavailable "slurmd failed to start (see $LOG_DIR/slurmd.log)"
fi

# --- 5. wait for an idle node -------------------------------------------------------
state() { sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n 1; }
resumed=0
deadline=$(($(date +%s) + IDLE_TIMEOUT))
while :; do
    s=$(state)
    case $s in
        idle | mixed | allocated | completing) break ;;
        down* | drain* | fail*)
            if ((!resumed)); then
                $SUDO scontrol update NodeName="$HOST" State=RESUME >>"$LOG" 2>&1 || true
                resumed=1
            fi ;;
    esac
    if (($(date +%s) >= deadline)); then
        why=$(sinfo -h -N -n "$HOST" -o '%E' 2>/dev/null | head -n 1)
        unavailable "node $HOST not idle after ${IDLE_TIMEOUT}s (state '${s:-unknown}'${why:+, reason: $why}; see $LOG_DIR/slurmd.log)"
    fi
    sleep 1
done

say "Slurm ready: node $HOST ${s} in partition $PARTITION ($CPUS CPUs, ${MEM} MB), $(sinfo --version 2>/dev/null), $(($(date +%s) - START))s"
exit 0
