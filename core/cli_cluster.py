"""The cluster commands of the ``uqhpo`` CLI: ``slurm`` (render, submit, wait).

:func:`add_parsers` registers them; :data:`COMMANDS` maps names to handlers.
"""
from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Any, Callable, Optional


def cmd_slurm(args: argparse.Namespace) -> int:
    """Render the study's sbatch script; print it (--dry-run) or submit it (and --wait)."""
    from .config import load_config  # noqa: PLC0415
    from .slurm_submit import load_profile, render_script, submit  # noqa: PLC0415

    cfg = load_config(args.config, overrides=args.overrides, import_dirs=True)
    profile = load_profile(args.profile)
    array = int(args.array or 0)
    if args.array is not None and (array < 1 or args.nodes > 1 or args.layout not in (None, "drivers")):
        raise ValueError(f"--array {args.array}: give a count >= 1, and neither --nodes nor --layout "
                         "(each array task is one uqhpo worker on one node)")
    if array > 1 and str(cfg.storage).startswith("sqlite:"):
        raise ValueError(f"storage: SQLite locking is unsafe when {array} array tasks may land on different nodes; "
                         "use a journal storage (storage: study.jsonl)")
    if args.nodes > 1 and str(cfg.storage).startswith("sqlite:"):
        raise ValueError(f"storage: SQLite locking is unsafe across {args.nodes} nodes on a shared file system; "
                         "use a journal storage (storage: study.jsonl)")
    passthrough = " ".join(f"--set {shlex.quote(item)}" for item in args.overrides)
    script = render_script(Path(args.config), profile, study=str(cfg.study), output=cfg.output_dir, nodes=args.nodes,
                           gpus_per_node=args.gpus_per_node, workers_per_node=args.workers_per_node,
                           extra_args=passthrough, layout=args.layout or "drivers", ddp_processes=args.ddp_processes,
                           array=array)
    if args.dry_run:
        print(script, end="")
        return 0
    job_id, status = submit(script, cfg.output_dir, wait=args.wait)
    log = f"slurm-{job_id}_*.out" if array else f"slurm-{job_id}.out"
    print(f"submitted Slurm job {job_id} for study '{cfg.study}' (log: {cfg.output_dir}/{log})")
    if not args.wait:
        print(f"follow it with: uqhpo status {args.config}")
        return 0
    return _after_wait(cfg, job_id, status)


def _after_wait(cfg: Any, job_id: str, status: int) -> int:
    """Exit 0 only when the job ended and the study's budget (trials and/or trainings, as
    the optimize loop's own policy reads it) is used up with nothing left running."""
    from .policy import Done, next_work, trainings_spent  # noqa: PLC0415
    from .study import load_study  # noqa: PLC0415

    study = load_study(cfg.storage, cfg.study)
    trials = study.all_trials()
    finished = sum(1 for t in trials if t.finished)
    settings = study.settings
    n_trials = settings.n_trials if settings.n_trials is not None else cfg.budget.trials
    max_trainings = settings.max_trainings if settings.max_trainings is not None else cfg.budget.trainings
    parts = [f"{finished} of {n_trials} trials finished" if n_trials is not None else f"{finished} trials finished"]
    if max_trainings is not None:
        parts.append(f"{trainings_spent(trials)} of {max_trainings} trainings spent")
    print(f"job {job_id} ended with exit status {status}; study '{cfg.study}': {', '.join(parts)}")
    complete = (n_trials is not None or max_trainings is not None) and isinstance(
        next_work(trials, settings, n_trials, max_trainings), Done)
    if status == 0 and complete:
        return 0
    print(f"the study is not complete; continue it in a new allocation with: uqhpo slurm {cfg.source} "
          "--profile ... --resume")
    return 1


def pin_gpu(environ: dict) -> Optional[str]:
    """The one GPU of this Slurm task: entry SLURM_LOCALID of CUDA_VISIBLE_DEVICES (which
    Slurm sets to all of the node's GPUs for the step); None when there is nothing to pick."""
    visible = [d for d in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    local = environ.get("SLURM_LOCALID")
    if len(visible) <= 1 or local is None or not local.isdigit():
        return None
    return visible[int(local) % len(visible)]


def cmd_worker(args: argparse.Namespace) -> int:
    """One training worker that takes work from the study's storage until the budget is done.

    Many of them (``srun`` tasks, or processes on different machines) share one storage:
    proposals are reserved under its lock, so no two get the same config, and replicates
    are claimed one by one; a worker that dies leaves only its running replicate, which
    the others re-queue once its heartbeat is stale.
    """

    from .cli_run import _create_or_continue, _optimize  # noqa: PLC0415
    from .config import load_config  # noqa: PLC0415

    if getattr(args, "ddp_processes", None):
        return _ddp_worker(args)
    gpu = pin_gpu(dict(os.environ))
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    overrides = [*args.overrides, "executor.name=serial", "executor.workers=1"]
    cfg = load_config(args.config, overrides=overrides, import_dirs=True)
    study = _create_or_continue(cfg)
    return _optimize(study, cfg, cfg.budget.trials, args, str(args.config), plot=draws_the_plot(dict(os.environ)))


def _ddp_worker(args: argparse.Namespace) -> int:
    """``uqhpo worker --ddp-processes N``: every replicate a DDP step of N ranks (srun or
    local processes), ``--steps`` of them at once; only rank 0's result is recorded."""
    from .cli_run import _create_or_continue, _optimize  # noqa: PLC0415
    from .config import load_config  # noqa: PLC0415
    from .slurm_steps import StepExecutor  # noqa: PLC0415

    if args.ddp_processes < 1 or args.steps < 1:
        raise ValueError(f"--ddp-processes and --steps must be >= 1, got {args.ddp_processes} and {args.steps}")
    cfg = load_config(args.config, overrides=[*args.overrides, f"executor.workers={args.steps}"], import_dirs=True)
    study = _create_or_continue(cfg)
    executor = StepExecutor(workers=args.steps, processes=args.ddp_processes, launcher=args.launcher,
                            gpus_per_process=args.gpus_per_process, folder=str(cfg.output_dir / "ddp-steps"))
    return _optimize(study, cfg, cfg.budget.trials, args, str(args.config), executor=executor,
                     plot=draws_the_plot(dict(os.environ)))


def draws_the_plot(environ: dict) -> bool:
    """True for the one worker of a Slurm job (task 0, or the first task of an array) that
    writes the convergence plot when it ends: 32 workers drawing it at once cost a minute
    of CPU on a node that has other work. Outside Slurm: True."""
    first_task = environ.get("SLURM_PROCID", "0") == "0"
    array_task, array_min = environ.get("SLURM_ARRAY_TASK_ID"), environ.get("SLURM_ARRAY_TASK_MIN")
    return first_task and (array_task is None or array_task == (array_min or "0"))


def cmd_pilot(args: argparse.Namespace) -> int:
    """Run a fraction of the budget as its own study and print time, failures and the projection."""
    from .cli_run import _create_or_continue, _optimize  # noqa: PLC0415
    from .config import load_config  # noqa: PLC0415
    from .pilot import pilot_trials, summarise_pilot  # noqa: PLC0415

    cfg = load_config(args.config, overrides=args.overrides, import_dirs=True)
    full = cfg.budget.trials_for_estimates(cfg.uq.replicates)
    n = pilot_trials(full, args.fraction)
    # a study of its own, next to the real one, so the pilot never counts against its budget
    pilot = cfg.model_copy(update={"study": f"{cfg.study}-pilot",
                                    "output": str(cfg.output_dir / "pilot")})
    study = _create_or_continue(pilot)
    status = _optimize(study, pilot, n, args, f"{args.config} --study {pilot.study}")
    report = summarise_pilot(study.all_trials(), full, cfg.uq.replicates, cfg.executor.workers)
    for line in report.lines(full, cfg.executor.workers):
        print(line)
    return status


def add_parsers(sub: Any) -> None:
    """Register the cluster sub-commands on the CLI's sub-parsers."""
    c = sub.add_parser("slurm", help="run a study in a Slurm allocation (render, submit, wait)")
    c.add_argument("config", help="YAML config file")
    c.add_argument("--profile", required=True, help="site profile: a name in slurm/profiles/ or a .yaml path")
    c.add_argument("--nodes", type=int, default=1, help="nodes; one uqhpo driver each (default 1)")
    c.add_argument("--gpus-per-node", type=int, default=None, help="GPUs per node (default: the profile's)")
    c.add_argument("--workers-per-node", type=int, default=None,
                   help="training workers per node (default: one per GPU, else per CPU of the profile)")
    c.add_argument("--dry-run", action="store_true", help="print the sbatch script, submit nothing")
    c.add_argument("--wait", action="store_true",
                   help="block until the job ends; exit non-zero unless the study completed")
    c.add_argument("--array", type=int, default=None, metavar="N",
                   help="a job array of N small independent jobs, each one uqhpo worker (journal storage)")
    c.add_argument("--layout", choices=("drivers", "workers", "ddp"), default=None,
                   help="drivers: one uqhpo run per node with local workers (default); "
                        "workers: one uqhpo worker per Slurm task, coordinated by the storage; "
                        "ddp: each replicate an srun step of --ddp-processes tasks (DistributedDataParallel)")
    c.add_argument("--ddp-processes", type=int, default=2, metavar="N",
                   help="with --layout ddp: Slurm tasks (GPUs) per replicate (default 2)")
    c.add_argument("--resume", action="store_true",
                   help="continue a stopped study in a new allocation (the storage says what is missing)")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key for this study (repeatable)")


    c = sub.add_parser("worker", help="one training worker taking work from the study's storage (for srun)")
    c.add_argument("config", help="YAML config file")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    c.add_argument("--ddp-processes", type=int, default=None, metavar="N",
                   help="run every replicate on N processes (DistributedDataParallel; the task uses "
                        "uqhpo.torch.ddp.ddp_context)")
    c.add_argument("--steps", type=int, default=1, help="with --ddp-processes: replicates at once (default 1)")
    c.add_argument("--launcher", choices=("srun", "local"), default="local",
                   help="with --ddp-processes: srun job steps (inside an allocation) or local processes")
    c.add_argument("--gpus-per-process", type=int, default=0,
                   help="with --ddp-processes: GPUs per rank (0: CPU, gloo; 1: one GPU each, nccl)")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")
    c = sub.add_parser("pilot", help="run a fraction of the budget; print time, failures, projected cost")
    c.add_argument("config", help="YAML config file")
    c.add_argument("--fraction", type=float, default=0.05,
                   help="fraction of budget.trials to run (default 0.05; with only budget.trainings, "
                        "of trainings / uq.replicates)")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"slurm": cmd_slurm, "pilot": cmd_pilot,
                                                             "worker": cmd_worker}
