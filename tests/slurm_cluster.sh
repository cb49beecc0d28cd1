#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests/test_slurm_executor.py:
#
#   tests/slurm_cluster.sh start DIR   # munged + slurmctld + slurmd, everything under DIR;
#                                      # prints the slurm.conf path once the node is idle
#   tests/slurm_cluster.sh stop DIR    # stops the three daemons started in DIR
#
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge; .ci/run installs them)
# and root (slurmd starts jobs as their user). The daemons use their own munge key, socket,
# ports, state and logs in DIR, so nothing outside DIR is read or changed. Jobs run as the
# user who submits them, with the submitter's environment (the test's Python).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # munged, slurmctld, slurmd

action=${1:?usage: slurm_cluster.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: slurm_cluster.sh start|stop DIR}")

stop() {
    for name in slurmd slurmctld munged; do
        if [[ -f "$dir/$name.pid" ]]; then
            pid=$(cat "$dir/$name.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$dir/$name.pid"
        fi
    done
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    for tool in munged slurmctld slurmd sbatch sinfo; do
        command -v "$tool" >/dev/null || { echo "slurm_cluster.sh: $tool not found (apt-get install slurm-wlm munge)" >&2; exit 3; }
    done
    mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
    chmod 700 "$dir" "$dir/munge"
    head -c 1024 /dev/urandom > "$dir/munge/munge.key"
    chmod 400 "$dir/munge/munge.key"
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed"
    local node cpus memory
    node=$(hostname -s)
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
    cat > "$dir/slurm.conf" <<EOF
ClusterName=avsstest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -c -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    for _ in $(seq 150); do
        state=$(sinfo -h -o %T 2>/dev/null || true)
        if [[ "$state" == idle* ]]; then
            echo "$SLURM_CONF"
            return 0
        fi
        sleep 0.2
    done
    echo "slurm_cluster.sh: the node did not become idle (state '$state'); logs in $dir" >&2
    stop
    exit 4
}

case "$action" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: slurm_cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
