"""Job execution: one Executor interface, two backends (local subprocesses, AWS Batch).

Stable API (the dashboard, the sweeps work and the CLI use only this). ``jobs.base.Executor``
writes submit_run, cancel's and retry's checks and wait once; the backends add the primitives::

    from jobs.settings import load_settings          # settings_with_sources: also where from
    from jobs.factory import make_executor, make_store
    settings = load_settings()
    store = make_store(settings)                    # the object store the settings point at
    ex = make_executor(settings, worker="thread")   # local: worker thread in this process
                                                    # ("process": detached worker, CLI style)
    rec = ex.submit_run(run_spec, name=None)        # engine.spec.RunSpec -> JobRecord
    rec = ex.submit(JobRequest(command, name=..., kind="sweep"|"child"|"collect"|"run",
                               env=None, array_size=None, depends_on=(), spec=None,
                               result_prefix=None, timeout=None, attempts=None, tags=None))
    rec = ex.submit_command(command, name=..., kind=...)   # the same, shorthand
    ex.get(id); ex.list(status=None, *, name_prefix=None, since=None, until=None,
                        limit=None, parent_id=None)       # newest first; children via parent_id
    ex.cancel(id)        # queued only (a started single job -> BacktestError "use terminate")
    ex.terminate(id, reason="Terminated by user")   # any state; SIGTERM, SIGKILL after grace
    ex.logs(id, tail=None) -> str;  ex.follow(id) -> Iterator[str]
    ex.retry(id) -> new JobRecord;  ex.wait(id, timeout=None) -> latest JobRecord

Records (:class:`jobs.model.JobRecord`): id, name, kind (JobKind), status (JobStatus, Batch's
seven states; ``JobStatus.parse`` reads AWS strings), status_reason, created/started/stopped_at
(aware UTC datetimes), attempts, max_attempts, array_size and status_counts (array parents),
result_prefix (``s3://<bucket>/runs/<run id>/`` for runs), spec (dict), parent_id/array_index
(children, id ``<parent>:<index>`` as on Batch), depends_on, user, command, exit_code, log (local
log file path or CloudWatch stream), backend. Errors: engine.errors BacktestError (bad input,
unknown id -> NotFoundError) and InfraError.

Semantics shared by both backends: array jobs are 2..10,000 children, each with
AWS_BATCH_JOB_ID, AWS_BATCH_JOB_ARRAY_INDEX and AWS_BATCH_JOB_ATTEMPT set; a job depending on an
array parent waits for all children; a failed dependency fails the dependent job with reason
"Dependent Job failed". Differences: locally ``attempts`` retries any non-zero exit; on Batch only
infrastructure failures retry (Spot/host loss, image pull, ENI set-up) and application exit codes
exit, with at least 3 attempts by default. A timeout stops the attempt with reason "Job attempt
duration exceeded timeout" and is not retried (Batch's rule).

Local executor (:mod:`jobs.local`): a SQLite (WAL) job table (:class:`jobs.localstore.JobTable`)
at ``<storage_root>/_jobs/jobs.db`` (or ``BACKTEST_JOBS_DIR``; ``~/.cache/batch-backtest/_jobs``
when no storage root is set), one log file per attempt under ``_jobs/logs``, one worker per
folder (an flock lease on ``_jobs/worker.lock``); jobs left running by a dead worker become
FAILED "executor restarted" (or are requeued while attempts remain); a worker that stops
(``close()``) kills its running jobs with the same rule ("executor stopped"). AWS
(:mod:`jobs.batch`): clients from :mod:`jobs.factory` (adaptive retries, AWS_ENDPOINT_URL
honoured).
"""
