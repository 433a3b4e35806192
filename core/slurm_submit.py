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
                                    "setup": [], "python": None}


#: how an allocation runs the study (see slurm/README.md)
LAYOUTS = ("drivers", "workers")


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
                  extra_args: str = "", layout: str = "drivers") -> str:
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
            a ``uqhpo worker`` that takes work from the shared storage, one GPU each).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if nodes < 1:
        raise ValueError(f"--nodes must be >= 1, got {nodes}")
    gpus = int(profile["gpus_per_node"] if gpus_per_node is None else gpus_per_node)
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
    else:
        ntasks = workers
        launch = ("# One uqhpo worker per Slurm task (one GPU each, by SLURM_LOCALID); each proposes\n"
                  "# or extends under the storage lock, trains, records, and asks again.\n"
                  f"srun --ntasks-per-node={workers} --kill-on-bad-exit=0 {python} -m uqhpo.cli worker "
                  f"{config_arg} --quiet {extra_args}")
    template = (slurm_dir() / "templates" / "study.sbatch").read_text()
    return template.format(
        study=study, nodes=nodes, cpus_per_task=int(profile["cpus_per_task"]), time=profile["time"],
        workdir=shlex.quote(str(Path.cwd())), output=shlex.quote(str(output)),
        signal_seconds=int(profile["signal_seconds"]), sbatch_extra="\n".join(extra),
        setup="\n".join(str(line) for line in profile["setup"]), ntasks_per_node=ntasks, launch=launch)


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
    """``scontrol show job`` as a dict (JobState, Reason, ExitCode, ...); empty once forgotten."""
    proc = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True)
    if proc.returncode != 0:
        return {}
    fields: dict[str, str] = {}
    for token in proc.stdout.split():
        key, sep, value = token.partition("=")
        if sep and key not in fields:
            fields[key] = value
    return fields


def wait_for_job(job_id: str, poll_seconds: float = 3.0) -> int:
    """Block until the job ends; its exit status (signals as 128 + number).

    Polls ``scontrol`` rather than ``sbatch --wait`` so that a job which can never start
    (a request larger than the partition) ends the wait with its reason instead of a hang.
    """
    while True:
        info = job_state(job_id)
        state = info.get("JobState", "")
        if not info or state in {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                                 "PREEMPTED", "BOOT_FAIL", "DEADLINE"}:
            break
        reason = info.get("Reason", "")
        if state == "PENDING" and reason in HOPELESS_PENDING:
            subprocess.run(["scancel", job_id], capture_output=True)
            raise ValueError(f"Slurm job {job_id} can never start here (pending, reason {reason}): "
                             "ask for fewer CPUs/GPUs/time in the profile, or another partition; it was cancelled")
        time.sleep(poll_seconds)
    if not info:
        return 0  # forgotten by the controller (MinJobAge passed): assume it finished
    code, _, signal = info.get("ExitCode", "0:0").partition(":")
    if signal and signal != "0":
        return 128 + int(signal)
    status = int(code or 0)
    return status if status or state == "COMPLETED" else 1
