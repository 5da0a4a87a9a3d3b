"""Allen Institute data through allensdk, and embedded caches in allensdk's on-disk formats.

- :mod:`neurorepro.allen.connectivity`: Mouse Connectivity Atlas (MouseConnectivityCache).
- :mod:`neurorepro.allen.embedded_connectivity`: the embedded connectivity cache writer.
"""
