"""Runs `attnseg` commands that die (os._exit: no cleanup, no finally) right after a chosen atomic publish, then
their `--resume`, for tests/cli/test_crash_consistency.py. One process imports attnseg once and forks a child per
command (a fresh interpreter per command would cost two seconds of imports each); the parent never runs torch.

    python tests/cli/crash.py count LOG -- ARGS...          # an uninterrupted run, each publish's path into LOG
    python tests/cli/crash.py kill PLAN.json                # {"kills": [k, ...], "args": [...], "root": DIR,
                                                            #  "jobs": how many kill points at a time}

A publish is an os.replace (attnseg.files.publish, and the run state's own renames). In `kill`, run k writes into
ROOT/k ("{dir}" in the args), dies after its k-th publish, and is resumed with the same args and --resume;
printed: one JSON line per k with both exit codes and the resume's last stderr line. Run with several jobs, give
each child one thread (OMP_NUM_THREADS=1, as the test does for every run it compares).
"""
from __future__ import annotations

import json
import os
import sys


def watch_publishes(log_path: str | None = None, die_after: int | None = None) -> None:
    """Count each os.replace in this process; log its destination; die at once after the `die_after`-th."""
    real, count = os.replace, [0]
    log = open(log_path, "a") if log_path else None

    def replace(src, dst, *args, **kwargs):
        real(src, dst, *args, **kwargs)
        count[0] += 1
        if log:
            log.write(f"{os.fspath(dst)}\n")
            log.flush()
        if count[0] == die_after:
            os._exit(137)  # as SIGKILL would: nothing after this runs

    os.replace = replace


def child(args: list[str], stderr_path: str, die_after: int | None = None) -> int:
    """Run `attnseg ARGS` in a forked child (dying after its die_after-th publish); its exit status."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 2)
            os.dup2(fd, 1)
            watch_publishes(die_after=die_after)
            from attnseg.cli import main

            code = main(args)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main() -> int:
    import attnseg.cli  # noqa: F401 - imported once, before the forks

    if sys.argv[1] == "count":
        log, args = sys.argv[2], sys.argv[sys.argv.index("--") + 1:]
        watch_publishes(log_path=log)
        return attnseg.cli.main(args)
    plan = json.loads(open(sys.argv[2]).read())
    jobs = plan.get("jobs", 1)  # kill points run this many at a time, each a forked driver of its own share
    drivers = []
    for share in range(jobs):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            with os.fdopen(write, "w") as out:
                for k in plan["kills"][share::jobs]:
                    out.write(json.dumps(kill_and_resume(plan, k)) + "\n")
            os._exit(0)
        os.close(write)
        drivers.append((pid, os.fdopen(read)))
    results = [json.loads(line) for _, out in drivers for line in out.read().splitlines()]
    for pid, _ in drivers:
        os.waitpid(pid, 0)
    for r in sorted(results, key=lambda r: r["k"]):
        print(json.dumps(r), flush=True)
    return 0


def kill_and_resume(plan: dict, k: int) -> dict:
    """Run k of the plan: killed after its k-th publish, then resumed; both exit codes, the resume's last line."""
    folder = os.path.join(plan["root"], str(k))
    args = [a.replace("{dir}", folder) for a in plan["args"]]
    os.makedirs(folder, exist_ok=True)
    killed = child(args, os.path.join(folder, "killed.err"), die_after=k)
    resumed = child([*args, "--resume"], os.path.join(folder, "resumed.err"))
    lines = open(os.path.join(folder, "resumed.err")).read().strip().splitlines()
    return {"k": k, "killed": killed, "resumed": resumed, "last": lines[-1] if lines else ""}


if __name__ == "__main__":
    sys.exit(main())
