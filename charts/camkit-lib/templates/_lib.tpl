{{/* Labels every object of a camkit chart carries. */}}
{{- define "camkit.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: camkit
camkit.io/site: {{ .Values.site.id | quote }}
camkit.io/tier: {{ .Values.site.tier | quote }}
{{- end }}

{{/* Selector of one component: (dict "root" $ "component" "vms" "shard" "0") */}}
{{- define "camkit.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .shard }}
camkit.io/shard: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Pod Security "restricted": non-root, RuntimeDefault seccomp. */}}
{{- define "camkit.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsUser }}
fsGroup: {{ .Values.securityContext.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container part of "restricted"; argument: read-only root file system (bool). */}}
{{- define "camkit.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ . }}
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pin an image: repository:tag (never latest; values.schema.json refuses it). */}}
{{- define "camkit.image" -}}
{{ .repository }}:{{ .tag }}
{{- end }}

{{/*
Network policies: default deny in the namespace (ingress and egress), DNS to kube-dns, then one policy per
rule of .Values.networkPolicy.ingress / .egress, each the Kubernetes rendering of flow-matrix rows.
A peer is {cidr: ...} or {namespace: ..., component: ...} or {namespace: ..., pods: {label: value}}.
*/}}
{{- define "camkit.peer" -}}
{{- if .cidr }}
- ipBlock:
    cidr: {{ .cidr }}
{{- else }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .namespace }}
  {{- if .component }}
  podSelector:
    matchLabels:
      app.kubernetes.io/component: {{ .component }}
  {{- else if .pods }}
  podSelector:
    matchLabels:
      {{- toYaml .pods | nindent 6 }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "camkit.networkPolicies" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ .Release.Name }}-default-deny
  labels:
    {{- include "camkit.labels" . | nindent 4 }}
spec:
  podSelector: {}
  policyTypes: ["Ingress", "Egress"]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ .Release.Name }}-dns
  labels:
    {{- include "camkit.labels" . | nindent 4 }}
spec:
  podSelector: {}
  policyTypes: ["Egress"]
  egress:
    - to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: kube-system
          podSelector:
            matchLabels:
              k8s-app: kube-dns
      ports:
        - {port: 53, protocol: UDP}
        - {port: 53, protocol: TCP}
{{- range $dir := list "ingress" "egress" }}
{{- range (index $.Values.networkPolicy $dir) }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $.Release.Name }}-{{ $dir }}-{{ .name }}
  labels:
    {{- include "camkit.labels" $ | nindent 4 }}
  annotations:
    camkit.io/reason: {{ .reason | quote }}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ $.Release.Name }}
      app.kubernetes.io/component: {{ .component }}
  policyTypes: [{{ $dir | title | quote }}]
  {{ $dir }}:
    - {{ if eq $dir "ingress" }}from{{ else }}to{{ end }}:
        {{- range .peers }}
        {{- include "camkit.peer" . | nindent 8 }}
        {{- end }}
      ports:
        {{- range .ports }}
        - {port: {{ .port }}, protocol: {{ .protocol }}}
        {{- end }}
{{- end }}
{{- end }}
{{- end }}
