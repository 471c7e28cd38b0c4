"""The composition root: configuration, the `nansen` CLI and the scheduler."""
