"""Parameter sweeps: the spec (:mod:`engine.sweep.spec`), its plan into array children
(:mod:`engine.sweep.plan`), one child (:mod:`engine.sweep.child`, :mod:`engine.sweep.resume_child`),
the collect step (:mod:`engine.sweep.collect`, :mod:`engine.sweep.robustness`) and the one
reader of the ``sweeps/<id>/`` layout (:mod:`engine.sweep.results`)."""
