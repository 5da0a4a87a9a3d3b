"""Allen Institute data through allensdk, and embedded caches in allensdk's on-disk formats.

- :mod:`neurorepro.allen.connectivity`: Mouse Connectivity Atlas (MouseConnectivityCache) → X, Y, Ω.
- :mod:`neurorepro.allen.embedded_connectivity`: the embedded connectivity cache writer (planted W_true).
- :mod:`neurorepro.allen.download`: verified downloads (check, delete, retry with backoff).
- :mod:`neurorepro.allen.brain_observatory`: Brain Observatory (BrainObservatoryCache, NWB) responses.
- :mod:`neurorepro.allen.embedded_brain_observatory`: the embedded Brain Observatory cache writer.
"""
