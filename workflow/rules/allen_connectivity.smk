# Allen Mouse Connectivity data (being written).
