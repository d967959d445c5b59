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

{{/*
Service tokens (.Values.tokens): the ConfigMap holding the refresher script, and the refresher as a native
sidecar (an init container that keeps running; the main container starts once the composed file exists).
Arguments of camkit.tokenRefresher: (dict "root" $ "volume" "config" "template" "/config/x.yml"
"out" "/run/camkit/x.yml"): the volume holding the template, mounted at the template's folder.
The chart ships files/refresh-tokens.sh (a link to camkit-lib/files/refresh-tokens.sh).
*/}}
{{- define "camkit.tokenScript" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-refresh-tokens
  labels:
    {{- include "camkit.labels" . | nindent 4 }}
data:
  refresh-tokens.sh: |
    {{- .Files.Get "files/refresh-tokens.sh" | required "files/refresh-tokens.sh is missing from the chart" | nindent 4 }}
{{- end }}

{{- define "camkit.tokenRefresher" -}}
{{- $t := .root.Values.tokens -}}
- name: refresh-tokens
  image: {{ include "camkit.image" $t.image }}
  restartPolicy: Always
  command: ["/bin/sh", "/scripts/refresh-tokens.sh"]
  env:
    - {name: TEMPLATE, value: {{ .template | quote }}}
    - {name: OUT, value: {{ .out | quote }}}
    - {name: TOKEN_URL, value: {{ $t.url | quote }}}
    - {name: CLIENT_ID, value: {{ $t.clientId | quote }}}
    - {name: CLIENT_SECRET_FILE, value: /service-client/secret}
    - {name: REFRESH_AT_MINUTE, value: {{ $t.refreshAtMinute | quote }}}
    - {name: TZ, value: {{ $t.timezone | quote }}}
    {{- if $t.caSecret }}
    - {name: CA_FILE, value: /sso-ca/ca.crt}
    {{- end }}
  startupProbe:
    exec:
      command: ["test", "-s", {{ .out | quote }}]
    periodSeconds: 5
    failureThreshold: 120
  securityContext:
    {{- include "camkit.containerSecurityContext" true | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {cpu: 100m, memory: 64Mi}
  volumeMounts:
    - {name: refresh-tokens, mountPath: /scripts, readOnly: true}
    - {name: {{ .volume }}, mountPath: {{ dir .template | quote }}, readOnly: true}
    - {name: service-client, mountPath: /service-client, readOnly: true}
    - {name: composed, mountPath: {{ dir .out | quote }}}
    {{- if $t.caSecret }}
    - {name: sso-ca, mountPath: /sso-ca, readOnly: true}
    {{- end }}
{{- end }}

{{/* The volumes the refresher needs (the chart adds the template's own volume). */}}
{{- define "camkit.tokenVolumes" -}}
{{- $t := .Values.tokens -}}
- name: refresh-tokens
  configMap:
    name: {{ .Release.Name }}-refresh-tokens
- name: service-client
  secret:
    secretName: {{ $t.clientSecret }}
- name: composed
  emptyDir:
    medium: Memory  # the composed file holds tokens (and camera credentials): never on the node's disk
    sizeLimit: 16Mi
{{- if $t.caSecret }}
- name: sso-ca
  secret:
    secretName: {{ $t.caSecret }}
{{- end }}
{{- end }}

{{/*
A PodMonitor (Prometheus Operator) for one component's metrics port:
(dict "root" $ "component" "vms" "port" "metrics" "path" "/metrics"). The Prometheus of the site must select
PodMonitors in this namespace (podMonitorNamespaceSelector); the NetworkPolicy rule "monitoring" lets it in.
*/}}
{{- define "camkit.podMonitor" -}}
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ .root.Release.Name }}-{{ .component }}
  labels:
    {{- include "camkit.labels" .root | nindent 4 }}
spec:
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .root.Release.Name }}
      app.kubernetes.io/component: {{ .component }}
  podMetricsEndpoints:
    - port: {{ .port }}
      path: {{ .path }}
      interval: 30s
      relabelings:
        - {sourceLabels: [__meta_kubernetes_pod_label_camkit_io_shard], targetLabel: shard}
        - {targetLabel: site, replacement: {{ .root.Values.site.id | quote }}}
{{- end }}
