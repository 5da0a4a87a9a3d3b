"""Liu et al. 2024, *How connectivity structure shapes rich and lazy learning in neural circuits*.

Leaky ReLU RNNs trained on neurogym-style tasks and sequential MNIST (:mod:`.tasks`; the
MNIST files are read by :mod:`.mnist`) from initial recurrent weights of equal Frobenius
norm and chosen effective rank (:mod:`.inits`), including an N x N block of the mouse
voxel connectivity fitted by the ``connectivity`` target and its shuffle; laziness
measured by weight change, representation alignment and tangent-kernel alignment
(:mod:`neurorepro.measures.alignment`). :mod:`.experiment` runs the sweep,
:mod:`.summary` turns the table into claims, :mod:`.figures` draws them.
"""
