#!/usr/bin/env bash
# A single-node SLURM on localhost for the test suite, from Debian's packages
# (slurmctld, slurmd, slurm-client, munge). No systemd: the daemons are started
# directly and stopped again by PID.
#
#   tests/slurm/cluster.sh up      write /etc/slurm/slurm.conf, start munged, slurmctld, slurmd
#   tests/slurm/cluster.sh down    stop them
#
# The config must sit at the default /etc/slurm/slurm.conf: the executor plugin's
# in-job step drops SLURM_CONF from the environment. There is no accounting
# storage, so Snakemake polls with `--slurm-status-command squeue`; MinJobAge
# keeps finished jobs visible to squeue for a while. Two fake GPUs (character
# devices) make GRES requests real: SLURM then sets CUDA_VISIBLE_DEVICES per job.
set -euo pipefail

RUN=/run/tkd-slurm
NODE=$(hostname -s)

up() {
    for tool in munged slurmctld slurmd sbatch; do
        command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install slurmctld slurmd slurm-client munge" >&2; exit 1; }
    done
    mkdir -p "$RUN" /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    for i in 0 1; do [ -e /dev/tkd-fake-gpu$i ] || mknod /dev/tkd-fake-gpu$i c 1 3; done

    local hw cpus mem
    hw=$(slurmd -C | head -1)
    cpus=$(sed -E 's/.*CPUs=([0-9]+).*/\1/' <<<"$hw")
    mem=$(sed -E 's/.*RealMemory=([0-9]+).*/\1/' <<<"$hw")
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=tkdtest
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
MinJobAge=600
KillWait=15
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$NODE CPUs=$cpus RealMemory=$((mem - 1024)) Gres=gpu:2 State=UNKNOWN
PartitionName=gpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
    cat > /etc/slurm/gres.conf <<CONF
NodeName=$NODE Name=gpu File=/dev/tkd-fake-gpu[0-1]
CONF
    down >/dev/null  # a leftover cluster (or its stale PID files) from an earlier run
    runuser -u munge -- /usr/sbin/munged --force --pid-file=/run/munge/munged.pid
    slurmctld -c
    slurmd
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
            echo "SLURM is up: $(sinfo -h -o '%P %D %T %G')"
            return 0
        fi
        sleep 1
    done
    echo "SLURM did not come up; logs in /var/log/slurm" >&2
    tail -n 20 /var/log/slurm/*.log >&2 || true
    exit 1
}

down() {
    local pid
    for pidfile in "$RUN/slurmd.pid" "$RUN/slurmctld.pid" /run/munge/munged.pid; do
        pid=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
        rm -f "$pidfile"
    done
    echo "SLURM stopped"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
