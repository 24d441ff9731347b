"""HyperSpy signal classes of hyperspy-rnmf (registered in hyperspy_extension.yaml)."""
