"""Helpers for the black-box suite: the services' HTTP API, the cluster and its port-forwards."""
