#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for tests and tries (profile "local").
#
#   slurm/local-cluster.sh start|stop|status
#
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) and root. Writes its
# configuration, state and logs under $UQHPO_SLURM_DIR (default /tmp/uqhpo-slurm) and never
# touches /etc/slurm: slurmctld, slurmd and every client command read SLURM_CONF, which
# `start` prints for the caller to export. The node has the machine's CPUs, OverSubscribe
# lets several workers share them, and no cgroups are needed (proctrack/linuxproc).
set -euo pipefail

DIR="${UQHPO_SLURM_DIR:-/tmp/uqhpo-slurm}"
CONF="$DIR/slurm.conf"
HOST="$(hostname -s)"
CPUS="$(getconf _NPROCESSORS_ONLN)"  # not nproc: it obeys OMP_NUM_THREADS
MEM_MB="$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)"

stop_daemons() {
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    for _ in $(seq 1 30); do
        pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || return 0
        sleep 0.5
    done
}

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 not found (apt-get install slurm-wlm munge)" >&2; exit 2; }; }

write_conf() {
    mkdir -p "$DIR"/{state,spool,log,munge}
    cat >"$CONF.new" <<CONF
ClusterName=uqhpo-local
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
KillWait=5
MinJobAge=300
InactiveLimit=0
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
    # A changed configuration (another machine size) needs fresh daemons and node state.
    if ! cmp -s "$CONF.new" "$CONF"; then
        stop_daemons
        rm -rf "$DIR/state"/* "$DIR/spool"/*
    fi
    mv "$CONF.new" "$CONF"
}

start_munge() {
    if pgrep -x munged >/dev/null; then return; fi
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged --force
    else
        /usr/sbin/munged --force
    fi
}

wait_idle() {
    for _ in $(seq 1 60); do
        state="$(SLURM_CONF="$CONF" sinfo -h -N -o '%t' 2>/dev/null | head -n1 || true)"
        case "$state" in idle*|mix*|alloc*) return 0 ;; esac
        if [ "${state:-}" = "down" ] || [ "${state:-}" = "drain" ] || [ "${state:-}" = "inval" ]; then
            SLURM_CONF="$CONF" scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
        fi
        sleep 1
    done
    echo "error: the local Slurm node did not become idle; see $DIR/log/" >&2
    return 1
}

case "${1:-status}" in
    start)
        need slurmctld; need slurmd; need munged
        write_conf
        start_munge
        if ! pgrep -x slurmctld >/dev/null; then SLURM_CONF="$CONF" slurmctld -i; fi
        if ! pgrep -x slurmd >/dev/null; then SLURM_CONF="$CONF" slurmd; fi
        wait_idle
        echo "export SLURM_CONF=$CONF"
        ;;
    stop)
        stop_daemons
        echo "stopped"
        ;;
    status)
        if pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null; then
            SLURM_CONF="$CONF" sinfo
        else
            echo "not running"; exit 1
        fi
        ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
