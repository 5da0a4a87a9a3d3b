"""Shi, Shea-Brown & Buice 2019: mouse visual areas (Allen Brain Observatory) vs task-driven CNNs.

- :mod:`.images`: natural scenes as the mouse saw them (monitor, warp, crop) -> CNN input.
- :mod:`.cnn`: VGG16 (ImageNet or random) and a small demo CNN (digits or random); layer RSMs.
- :mod:`.analysis`: SSM per neural group × CNN layer, null, ceiling, best layer, stability.
- :mod:`.figures`: the three figures; :mod:`.pipeline`: one function per rule.
"""
