"""neurorepro: science package of the reproduction pipeline."""
