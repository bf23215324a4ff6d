"""Storage: the object store (:mod:`engine.store.objects`, a local root or S3 through
:mod:`engine.store.s3`) and the run result layout ``runs/<id>/`` (:mod:`engine.store.runs`)."""
