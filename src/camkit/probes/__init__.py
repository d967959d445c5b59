"""Small network probes run inside test and bench namespaces (python -m camkit.probes.<name>)."""
