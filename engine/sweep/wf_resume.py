"""One child of a resumed walk-forward sweep:
``python -m engine.sweep.wf_jobs resume-child s3://B/sweeps/ID/resume/N.json``.

A resume (:func:`jobs.resume.resume_sweep`) of a walk-forward sweep writes the manifest
``sweeps/<id>/resume/<n>.json`` with ``chunks`` (ordinary chunks without ``chunks/<i>.parquet``)
and ``wf_chunks`` (in-sample chunks without ``walk_forward/is/<j>.parquet``), and submits one
array of ``len(chunks) + len(wf_chunks)`` of these children (one plain job for one). Child ``k``
reruns ``chunks[k]``, then ``wf_chunks[k - len(chunks)]``, exactly as the original array child
would (:func:`engine.sweep.wf_jobs.run_index`, with the original array's numbering: in-sample
chunk ``j`` is child ``n_children + j``). Its collect is the walk-forward collect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import ParamError
from engine.store.objects import open_store
from engine.sweep import wf_jobs
from engine.sweep.results import SweepDoc, parse_uri, read_json, spec_key


def _indices(manifest: Mapping[str, Any], name: str, below: int, where: str) -> list[int]:
    value = manifest.get(name, [])
    ok = isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < below for v in value
    )
    if not ok:
        raise ParamError(f"{where}: {name!r} must be a list of indices 0..{below - 1}")
    return [int(v) for v in value]


def resume_indices(manifest: Any, where: str, doc: SweepDoc, plan: wf_jobs.WfPlan) -> list[int]:
    """The array indices (as the original array numbers them) a resume manifest reruns:
    its ``chunks``, then ``n_children + j`` for each of its ``wf_chunks``; ParamError naming
    ``where`` when the manifest is not this sweep's or lists nothing."""
    if not isinstance(manifest, Mapping):
        raise ParamError(f"{where} must be a JSON object")
    sweep_id, spec_uri = manifest.get("sweep_id"), manifest.get("spec")
    if (
        sweep_id != doc.spec.sweep_id
        or not isinstance(spec_uri, str)
        or parse_uri(spec_uri)[1] != spec_key(doc.spec.sweep_id)
    ):
        raise ParamError(f"{where} is not a resume manifest of sweep {doc.spec.sweep_id!r}")
    chunks = _indices(manifest, "chunks", doc.n_children, where)
    wf = _indices(manifest, "wf_chunks", plan.n_children, where)
    if not chunks and not wf:
        raise ParamError(f"{where}: 'chunks' and 'wf_chunks' are both empty; nothing to rerun")
    return chunks + [doc.n_children + j for j in wf]


def run_resume_child(uri: str, env: Mapping[str, str]) -> int:
    """One child of a resumed walk-forward sweep: its manifest position (the array index; a
    plain job of one chunk: 0) names the chunk it reruns."""
    from engine.sweep.resume_child import position

    bucket, key = parse_uri(uri)
    store = open_store(env)
    manifest = read_json(store, bucket, key)
    where = store.uri(bucket, key)
    sweep_id = manifest.get("sweep_id") if isinstance(manifest, Mapping) else None
    if not isinstance(sweep_id, str):
        raise ParamError(f"{where}: 'sweep_id' must be a string")
    doc = wf_jobs.load_wf_doc(store, bucket, spec_key(sweep_id), env)
    plan = wf_jobs.read_plan(store, bucket, sweep_id)
    indices = resume_indices(manifest, where, doc, plan)
    index = indices[position(env, len(indices))]
    print(f"resume {where}: array child {index}", flush=True)
    return wf_jobs.run_index(store, bucket, (doc, plan), index)
