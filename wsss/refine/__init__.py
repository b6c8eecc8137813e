"""From CAMs to pseudo-labels: dense CRF, IR labels, inter-pixel affinities and the random walk."""
