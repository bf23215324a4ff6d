"""One child of a resumed sweep: ``python -m engine.sweep.resume_child s3://B/sweeps/ID/resume/N.json``.

A resume (``python -m jobs resume SWEEP_ID`` or the Jobs page) reruns only the chunks that have
no ``chunks/<i>.parquet``. It writes a manifest ``sweeps/<id>/resume/<n>.json``::

    {"sweep_id": ID, "spec": "s3://B/sweeps/ID/spec.json", "chunks": [3, 7, 9], ...}

and submits an array of ``len(chunks)`` children (one plain job for one chunk). Child ``k``
(``AWS_BATCH_JOB_ARRAY_INDEX``; a plain job has none and takes position 0) evaluates chunk
``chunks[k]`` exactly as the original child ``chunks[k]`` would: the same
:func:`engine.sweep.child.run_sweep_child`, with the array index replaced by the chunk's own.
The manifest is read from the store, so the container command stays the same size whatever
the number of chunks (ECS caps all overrides at 8,192 characters).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from engine.backtest import guarded
from engine.errors import ParamError
from engine.store.objects import open_store
from engine.sweep.child import INDEX_VAR, run_sweep_child
from engine.sweep.results import parse_uri, read_json, spec_key

USAGE = "usage: python -m engine.sweep.resume_child s3://BUCKET/sweeps/ID/resume/N.json"


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def manifest_chunks(manifest: Any, where: str) -> tuple[str, list[int]]:
    """(spec URI, chunk indices) from a resume manifest; ParamError naming ``where``."""
    if not isinstance(manifest, Mapping):
        raise ParamError(f"{where} must be a JSON object")
    sweep_id, spec_uri, chunks = (manifest.get(k) for k in ("sweep_id", "spec", "chunks"))
    if not isinstance(sweep_id, str) or not isinstance(spec_uri, str):
        raise ParamError(f"{where}: 'sweep_id' and 'spec' must be strings")
    _, spec_at = parse_uri(spec_uri)
    if spec_at != spec_key(sweep_id):
        raise ParamError(f"{where}: spec {spec_uri!r} is not sweep {sweep_id!r}'s spec.json")
    if not isinstance(chunks, list) or not chunks or not all(_is_index(c) for c in chunks):
        raise ParamError(f"{where}: 'chunks' must be a non-empty list of chunk indices")
    return spec_uri, [int(c) for c in chunks]


def position(env: Mapping[str, str], n_chunks: int) -> int:
    """This child's position in the manifest's chunk list (a plain job of one chunk: 0)."""
    raw = (env.get(INDEX_VAR) or "").strip()
    if not raw:
        if n_chunks == 1:
            return 0
        raise ParamError(f"{INDEX_VAR} is not set; a resume of {n_chunks} chunks is an array job")
    if not raw.isdigit() or int(raw) >= n_chunks:
        raise ParamError(f"{INDEX_VAR}={raw!r} is out of range 0..{n_chunks - 1}")
    return int(raw)


def run_resume_child(uri: str, env: Mapping[str, str]) -> int:
    """Evaluate this child's chunk of the resume manifest at ``uri``; return the exit code."""
    bucket, key = parse_uri(uri)
    store = open_store(env)
    spec_uri, chunks = manifest_chunks(read_json(store, bucket, key), store.uri(bucket, key))
    chunk = chunks[position(env, len(chunks))]
    print(f"resume {store.uri(bucket, key)}: chunk {chunk}", flush=True)
    return run_sweep_child(spec_uri, {**env, INDEX_VAR: str(chunk)})


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """CLI entry: one manifest URI; failures are one line on stderr and a non-zero exit."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    if len(args) != 1 or args[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 0 if args in (["-h"], ["--help"]) else 2
    return guarded(lambda: run_resume_child(args[0], env), env=env)


if __name__ == "__main__":
    sys.exit(main())
