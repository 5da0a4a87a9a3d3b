"""Liu et al. 2022, *Beyond accuracy: generalization properties of bio-plausible temporal
credit assignment rules* (target ``credit_assignment``).

- :mod:`.rnn`: the leaky (alpha = 1: leak-free) ReLU RNN, with a loss over a response window.
- :mod:`.rules`: BPTT, truncated BPTT, e-prop, RFLO and MDGL, each written as its own
  update rule (backward recursion or eligibility traces times learning signals).
- :mod:`.tasks`: row-wise sequential digits (via ``neurorepro.nets``), evidence
  accumulation, delayed match-to-sample.
- :mod:`.curvature`: top Hessian eigenvalue of the loss w.r.t. ``W_rec``
  (``neurorepro.measures.hessian``).
- :mod:`.train`: :class:`~.train.RuleTrainer`, training each rule to a common training-accuracy
  criterion (matched performance, with a cap), curvature and the curvature the rule's own
  update sees; :mod:`.experiment`: seeds x remedies into a Dataset.
- :mod:`.analysis`: run tables, gap-curvature correlation, claims with CIs over seeds; :mod:`.figures`.
"""
