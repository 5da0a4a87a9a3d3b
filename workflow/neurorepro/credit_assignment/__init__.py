"""Liu et al. 2022, *Beyond accuracy: generalization properties of bio-plausible temporal
credit assignment rules* (target ``credit_assignment``).

- :mod:`.rnn`: the leak-free (optionally leaky) ReLU RNN, read out at the last step.
- :mod:`.rules`: BPTT, truncated BPTT, e-prop, RFLO and MDGL, each written as its own
  update rule (backward recursion or eligibility traces times learning signals).
- :mod:`.tasks`: row-wise sequential digits (via ``neurorepro.nets``), evidence
  accumulation, delayed match-to-sample.
- :mod:`.curvature`: top Hessian eigenvalue of the loss w.r.t. ``W_rec``
  (``neurorepro.measures.hessian``).
- :mod:`.train`: :class:`~.train.RuleTrainer`, training with accuracy, curvature and
  gradient-alignment checkpoints; :mod:`.experiment`: seeds x remedies into a Dataset.
- :mod:`.analysis`: run tables, gap-curvature correlation, claims; :mod:`.figures`.
"""
