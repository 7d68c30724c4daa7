#!/usr/bin/env bash
# Start a one-node SLURM on this Debian machine (run as root), for tests/test_slurm.py.
#
#   sudo tests/cluster/local-slurm.sh        # installs slurm-wlm and munge if missing
#
# One node (this machine, all its CPUs and memory), one default partition `main`, no
# accounting. MinJobAge=300 keeps finished jobs visible to `squeue` for five minutes, which
# the SLURM executor's status command (`--slurm-status-command squeue`) needs without
# accounting. Idempotent: a SLURM already answering `sinfo` is left alone.
set -euo pipefail

if sinfo --noheader >/dev/null 2>&1 && [ -n "$(sinfo --noheader 2>/dev/null)" ]; then
    echo "local SLURM already running"; sinfo; exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "local-slurm.sh: run as root (it installs packages and starts daemons)" >&2; exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge: the key SLURM's daemons authenticate each other with
mkdir -p /etc/munge /var/log/munge /var/lib/munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /var/log/munge /var/lib/munge /run/munge
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

host="$(hostname -s)"
cpus="$(nproc)"
memory_mb="$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)"
conf_dir=/etc/slurm
mkdir -p "$conf_dir" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
chown slurm:slurm /var/spool/slurmctld /var/log/slurm 2>/dev/null || true
cat >"$conf_dir/slurm.conf" <<CONF
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=300
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do
    if sinfo --noheader 2>/dev/null | grep -q idle; then
        echo "local SLURM up: partition main, node $host, $cpus CPUs, $memory_mb MB"; sinfo; exit 0
    fi
    sleep 1
done
echo "local-slurm.sh: SLURM did not come up; see /var/log/slurm/" >&2
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
