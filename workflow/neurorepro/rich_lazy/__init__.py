"""Liu et al. 2024, *How connectivity structure shapes rich and lazy learning in neural circuits*.

Leaky ReLU RNNs trained on neurogym-style tasks (:mod:`.tasks`) from initial recurrent
weights of equal Frobenius norm and chosen effective rank (:mod:`.inits`), including
an N x N block of the mouse voxel connectivity fitted by the ``connectivity`` target
and its shuffle; laziness measured by weight change, representation alignment and
tangent-kernel alignment (:mod:`.measures`). :mod:`.experiment` runs the sweep,
:mod:`.summary` turns the table into claims, :mod:`.figures` draws them.
"""
