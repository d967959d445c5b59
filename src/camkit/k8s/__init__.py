"""Kubernetes side of camkit: the pinned helm binary, chart checks, the policy check of rendered objects."""
