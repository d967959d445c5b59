"""Kubernetes side of camkit: the pinned helm binary, chart checks, the policy check of rendered objects."""

# The namespace each chart's release goes to (the stack installs it there; `charts check` renders it there).
NAMESPACES = {"vms": "camkit-vms", "archive": "camkit-vms", "iva": "camkit-iva", "monitoring": "camkit-monitoring",
              "sso": "camkit-sso", "storage": "rook-ceph"}
# The namespaces the stack creates (the others belong to the operators it relies on: rook-ceph, metallb-system,
# kube-system) and the Pod Security labels it puts on them; `camkit verify --kubeconfig` checks them.
OWNED_NAMESPACES = ("camkit-vms", "camkit-iva", "camkit-monitoring", "camkit-sso")
POD_SECURITY_LABELS = {"pod-security.kubernetes.io/enforce": "restricted",
                       "pod-security.kubernetes.io/enforce-version": "latest",
                       "pod-security.kubernetes.io/audit": "restricted",
                       "pod-security.kubernetes.io/warn": "restricted"}
