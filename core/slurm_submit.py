"""``uqhpo slurm``: render an sbatch script for a study, submit it, wait for it.

Nothing site-specific is hard-coded: a *profile* (YAML) names the partition, account,
constraint, time limit, CPUs/GPUs per node and the shell lines that set up the
environment; the script comes from ``slurm/templates/study.sbatch``. Inside the
allocation ``srun`` starts one uqhpo driver per node, each with ``workers_per_node``
local training workers; drivers share nothing but the study's storage.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

#: profile keys and their defaults
PROFILE_DEFAULTS: dict[str, Any] = {"partition": None, "account": None, "constraint": None, "time": "01:00:00",
                                    "cpus_per_task": 1, "gpus_per_node": 0, "signal_seconds": 120,
                                    "setup": [], "python": None, "memory": None}


#: how an allocation runs the study (see slurm/README.md)
LAYOUTS = ("drivers", "workers", "ddp")


def slurm_dir() -> Path:
    """The ``slurm/`` folder of this checkout (templates and site profiles)."""
    return Path(__file__).resolve().parents[1] / "slurm"


def load_profile(name: str, search: Optional[list[Path]] = None) -> dict[str, Any]:
    """A site profile by name (``slurm/profiles/NAME.yaml``, or ``./slurm/profiles``) or path.

    Raises:
        ValueError: no such profile, or an unknown key (named).
    """
    import yaml  # noqa: PLC0415

    path = Path(name)
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        folders = search or [Path.cwd() / "slurm" / "profiles", slurm_dir() / "profiles"]
        found = [f / f"{name}.yaml" for f in folders if (f / f"{name}.yaml").is_file()]
        if not found:
            known = sorted({p.stem for f in folders if f.is_dir() for p in f.glob("*.yaml")})
            raise ValueError(f"--profile: no Slurm profile '{name}' (known: {', '.join(known) or 'none'}; "
                             "or give a .yaml path)")
        path = found[0]
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"profile '{path}': expected a mapping of keys")
    unknown = sorted(set(raw) - set(PROFILE_DEFAULTS))
    if unknown:
        raise ValueError(f"profile '{path}': unknown key '{unknown[0]}' (keys: {', '.join(PROFILE_DEFAULTS)})")
    return {**PROFILE_DEFAULTS, **raw, "source": str(path)}


def render_script(config: Path, profile: dict[str, Any], *, study: str, output: Path, nodes: int = 1,
                  gpus_per_node: Optional[int] = None, workers_per_node: Optional[int] = None,
                  extra_args: str = "", layout: str = "drivers", ddp_processes: int = 2, array: int = 0) -> str:
    """The sbatch script for ``config`` under ``profile``.

    Args:
        config: the study's YAML config (made absolute in the script).
        study: the study name (job name).
        output: folder for the job's log (``slurm-<jobid>.out``).
        nodes: nodes of the allocation, one driver each.
        gpus_per_node: GPUs per node (default: the profile's).
        workers_per_node: training workers per node (default: one per GPU, else one per CPU
            of ``cpus_per_task``).
        layout: "drivers" (one ``uqhpo run`` per node with ``workers_per_node`` local
            worker processes) or "workers" (``workers_per_node`` Slurm tasks per node, each
            a ``uqhpo worker`` that takes work from the shared storage, one GPU each) or
            "ddp" (one ``uqhpo worker`` in the batch shell that runs each replicate as an
            ``srun`` step of ``ddp_processes`` tasks, one GPU each; ``workers_per_node``
            replicates per node at once, default: GPUs // ddp_processes, else 1).
        ddp_processes: processes (Slurm tasks) per replicate with layout "ddp".
        array: when > 0, a job array of that many independent small jobs (one node, one
            task, one GPU when the profile has GPUs), each a ``uqhpo worker``; they
            coordinate only through the storage. ``layout`` and ``nodes`` do not apply.
    """
    if array:
        return _render_array(config, profile, study=study, output=output, gpus_per_node=gpus_per_node,
                             extra_args=extra_args, array=array)
    if layout not in LAYOUTS:
        raise ValueError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if nodes < 1:
        raise ValueError(f"--nodes must be >= 1, got {nodes}")
    gpus = int(profile["gpus_per_node"] if gpus_per_node is None else gpus_per_node)
    if layout == "ddp":
        if ddp_processes < 1:
            raise ValueError(f"--ddp-processes must be >= 1, got {ddp_processes}")
        workers = int(workers_per_node or max(gpus // ddp_processes, 1))
    else:
        workers = int(workers_per_node or (gpus if gpus > 0 else profile["cpus_per_task"]))
    extra = [f"#SBATCH --{key}={profile[key]}" for key in ("partition", "account", "constraint") if profile[key]]
    if gpus > 0:
        extra.append(f"#SBATCH --gpus-per-node={gpus}")
    python = profile["python"] or shlex.quote(sys.executable)
    config_arg = shlex.quote(str(config.resolve()))
    if layout == "drivers":
        ntasks = 1
        launch = ("# One uqhpo driver per node, each with its own local training workers (one GPU each\n"
                  "# when the node has GPUs); drivers coordinate only through the study's storage.\n"
                  f"srun --ntasks-per-node=1 --kill-on-bad-exit=0 {python} -m uqhpo.cli run {config_arg} \\\n"
                  f"    --set executor.name=local --set executor.workers={workers} --quiet {extra_args}")
    elif layout == "ddp":
        ntasks = workers * ddp_processes
        gpu_arg = " --gpus-per-process 1" if gpus > 0 else ""
        launch = (f"# One uqhpo worker here, in the batch shell: each replicate is an srun step of {ddp_processes}\n"
                  "# tasks (DistributedDataParallel, rank 0 records), up to --steps steps at once.\n"
                  "# Only this shell hears the time limit (B:USR1): it hands SIGTERM on to the driver. scancel\n"
                  "# signals the driver itself; the shell then keeps waiting until it has re-queued its work.\n"
                  "trap 'kill -TERM \"$driver\" 2>/dev/null' USR1\ntrap ':' TERM\n"
                  f"{python} -m uqhpo.cli worker {config_arg} --ddp-processes {ddp_processes} "
                  f"--steps {workers * nodes} --launcher srun{gpu_arg} --quiet {extra_args} &\n"
                  "driver=$!\nwait \"$driver\" || true\n"
                  "while kill -0 \"$driver\" 2>/dev/null; do wait \"$driver\" || true; done\n"
                  "status=0\nwait \"$driver\" || status=$?\nexit \"$status\"")
    else:
        ntasks = workers
        launch = ("# One uqhpo worker per Slurm task (one GPU each, by SLURM_LOCALID); each proposes\n"
                  "# or extends under the storage lock, trains, records, and asks again.\n"
                  f"srun --ntasks-per-node={workers} --kill-on-bad-exit=0 {python} -m uqhpo.cli worker "
                  f"{config_arg} --quiet {extra_args}")
    template = (slurm_dir() / "templates" / "study.sbatch").read_text()
    return template.format(
        study=study, nodes=nodes, cpus_per_task=int(profile["cpus_per_task"]), time=profile["time"],
        workdir=shlex.quote(str(Path.cwd())), output=shlex.quote(str(output)), log_name="slurm-%j.out",
        signal_seconds=int(profile["signal_seconds"]), signal="B:USR1" if layout == "ddp" else "TERM",
        sbatch_extra="\n".join(extra),
        setup="\n".join(str(line) for line in profile["setup"]), ntasks_per_node=ntasks, launch=launch)


def _render_array(config: Path, profile: dict[str, Any], *, study: str, output: Path, gpus_per_node: Optional[int],
                  extra_args: str, array: int) -> str:
    """The sbatch script of a job array: ``array`` one-task jobs, each a ``uqhpo worker``."""
    if array < 1:
        raise ValueError(f"--array must be >= 1, got {array}")
    gpus = min(int(profile["gpus_per_node"] if gpus_per_node is None else gpus_per_node), 1)
    extra = [f"#SBATCH --array=0-{array - 1}"]
    extra += [f"#SBATCH --{key}={profile[key]}" for key in ("partition", "account", "constraint") if profile[key]]
    if gpus > 0:
        extra.append("#SBATCH --gpus-per-node=1")
    python = profile["python"] or shlex.quote(sys.executable)
    launch = ("# Array task $SLURM_ARRAY_TASK_ID: one uqhpo worker that proposes or extends under the\n"
              "# storage lock, trains, records and asks again until the budget is done.\n"
              f"srun --ntasks=1 {python} -m uqhpo.cli worker {shlex.quote(str(config.resolve()))} --quiet {extra_args}")
    template = (slurm_dir() / "templates" / "study.sbatch").read_text()
    return template.format(
        study=study, nodes=1, cpus_per_task=int(profile["cpus_per_task"]), time=profile["time"],
        workdir=shlex.quote(str(Path.cwd())), output=shlex.quote(str(output)), log_name="slurm-%A_%a.out",
        signal_seconds=int(profile["signal_seconds"]), signal="TERM", sbatch_extra="\n".join(extra),
        setup="\n".join(str(line) for line in profile["setup"]), ntasks_per_node=1, launch=launch)


def dask_slurm_cluster(profile_name: str, jobs: int) -> tuple[Any, dict[str, int]]:
    """A ``dask_jobqueue.SLURMCluster`` of ``jobs`` Slurm jobs built from a site profile.

    Each Slurm job is one Dask worker with one thread (one training at a time) on
    ``cpus_per_task`` CPUs and, when the profile has GPUs, one GPU (``--gpus=1``, the
    worker declares ``--resources GPU=1``). The profile's ``setup`` lines run first; the
    driver's own folders on ``sys.path`` (the config's folder) are exported as PYTHONPATH
    so workers import the same tasks. ``memory`` (e.g. "16GB") becomes ``--mem``; without
    it the job asks for no memory and the worker has no memory limit.

    Returns:
        (the cluster, scaled to ``jobs``; the resources each worker declares).

    Raises:
        ImportError: dask-jobqueue is missing (one line with the install hint).
        ValueError: unknown profile (see :func:`load_profile`).
    """
    try:
        from dask_jobqueue import SLURMCluster  # noqa: PLC0415
    except ImportError:
        raise ImportError("executor 'dask' with cluster: slurm needs dask-jobqueue: pip install 'uqhpo[dask]'") \
            from None
    profile = load_profile(profile_name)
    gpus = 1 if int(profile["gpus_per_node"]) > 0 else 0
    resources = {"GPU": gpus} if gpus else {}
    extra = [f"--{key}={profile[key]}" for key in ("constraint",) if profile[key]]
    extra += [f"--signal=TERM@{int(profile['signal_seconds'])}"] + (["--gpus=1"] if gpus else [])
    worker_args = ["--resources", f"GPU={gpus}"] if gpus else []
    skip: list[str] = []
    if not profile["memory"]:
        skip, worker_args = ["--mem"], [*worker_args, "--memory-limit", "0"]
    own = [p for p in sys.path if p and Path(p).is_dir() and "-packages" not in p
           and not p.startswith((sys.base_prefix, sys.prefix))]
    prologue = [str(line) for line in profile["setup"]]
    if own:
        prologue.append(f"export PYTHONPATH={shlex.quote(':'.join(own))}${{PYTHONPATH:+:$PYTHONPATH}}")
    cluster = SLURMCluster(queue=profile["partition"], account=profile["account"], walltime=profile["time"],
                           cores=1, processes=1, job_cpu=int(profile["cpus_per_task"]),
                           memory=profile["memory"] or "1GB", job_directives_skip=skip,
                           job_extra_directives=extra, worker_extra_args=worker_args,
                           job_script_prologue=prologue, python=profile["python"] or sys.executable,
                           scheduler_options={"dashboard_address": ":0"}, silence_logs="error")
    cluster.scale(jobs=int(jobs))
    return cluster, resources


#: pending reasons that no amount of waiting resolves: the job asks for more than the
#: partition or the node has, or names an account/QOS/constraint the site does not know
HOPELESS_PENDING = frozenset({"PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints",
                              "InvalidAccount", "InvalidQOS", "QOSMaxCpuPerJobLimit", "QOSMaxGRESPerJob",
                              "AssocMaxCpuPerJobLimit", "AssocMaxGRESPerJob", "Resources_Unavailable"})


def submit(script: str, folder: Path, wait: bool = False, poll_seconds: float = 3.0) -> tuple[str, int]:
    """Write ``script`` to ``folder/submit.sbatch`` and ``sbatch`` it.

    Returns:
        (job id, exit status of the job when ``wait`` else 0).

    Raises:
        ValueError: ``sbatch`` is missing or refused the script, or (``wait``) the job
            is pending for a reason that waiting cannot resolve; it is cancelled then
            and the message names the reason, one line.
    """
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise ValueError("sbatch not found: run on a Slurm login node (or start slurm/local-cluster.sh)")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "submit.sbatch"
    path.write_text(script)
    proc = subprocess.run([sbatch, "--parsable", str(path)], capture_output=True, text=True)
    job_id = (proc.stdout.strip().splitlines() or [""])[0].split(";")[0]
    if not job_id:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise ValueError(f"sbatch refused {path}: {lines[-1] if lines else 'no job id'}")
    return job_id, wait_for_job(job_id, poll_seconds) if wait else 0


def job_state(job_id: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (JobState, Reason, ExitCode, ...); empty once forgotten.
    For a job array, the first of its records (see :func:`job_states`)."""
    states = job_states(job_id)
    return states[0] if states else {}


def job_states(job_id: str) -> list[dict[str, str]]:
    """One dict per record of ``scontrol -o show job`` (a job array has one per task, or one
    for its pending rest); empty once the controller forgot the job."""
    proc = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True)
    if proc.returncode != 0:
        return []
    records = []
    for line in proc.stdout.splitlines():
        fields: dict[str, str] = {}
        for token in line.split():
            key, sep, value = token.partition("=")
            if sep and key not in fields:
                fields[key] = value
        if fields:
            records.append(fields)
    return records


_ENDED = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                    "BOOT_FAIL", "DEADLINE"})


def wait_for_job(job_id: str, poll_seconds: float = 3.0) -> int:
    """Block until the job (every task of a job array) ends; its exit status (signals as
    128 + number; for an array, the first non-zero status of its tasks).

    Polls ``scontrol`` rather than ``sbatch --wait`` so that a job which can never start
    (a request larger than the partition) ends the wait with its reason instead of a hang.
    """
    last: dict[str, dict[str, str]] = {}
    while True:
        records = job_states(job_id)
        for info in records:
            last[info.get("JobId", job_id)] = info
            if info.get("JobState") == "PENDING" and info.get("Reason", "") in HOPELESS_PENDING:
                subprocess.run(["scancel", job_id], capture_output=True)
                raise ValueError(f"Slurm job {job_id} can never start here (pending, reason {info['Reason']}): "
                                 "ask for fewer CPUs/GPUs/time in the profile, or another partition; it was cancelled")
        if all(info.get("JobState", "") in _ENDED for info in records):
            break
        time.sleep(poll_seconds)
    statuses = [_exit_status(info) for info in last.values() if info.get("JobState") in _ENDED]
    return next((s for s in statuses if s), 0)  # forgotten by the controller (MinJobAge passed): assume 0


def _exit_status(info: dict[str, str]) -> int:
    code, _, signal = info.get("ExitCode", "0:0").partition(":")
    if signal and signal != "0":
        return 128 + int(signal)
    status = int(code or 0)
    return status if status or info.get("JobState") == "COMPLETED" else 1
