{{- define "archive.pod" -}}
restartPolicy: OnFailure
automountServiceAccountToken: false
securityContext:
  {{- include "camkit.podSecurityContext" . | nindent 2 }}
{{- end }}

{{/*
A CronJob on the node of one VMS shard (its recordings volume is ReadWriteOnce), running rclone with
remotes from environment variables: `warm` (the site's bucket, credentials from its ObjectBucketClaim) and,
for the backup, `city` (the city object store, credentials from a Secret the deploy step creates).
Argument: (dict "root" $ "shard" "0" "job" "move" or "backup" "schedule" CRON "args" (list ...))
*/}}
{{- define "archive.shardJob" -}}
{{- $ := .root }}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ $.Release.Name }}-{{ .job }}-{{ .shard }}
  labels:
    {{- include "camkit.labels" $ | nindent 4 }}
    app.kubernetes.io/component: archive
spec:
  schedule: {{ .schedule | quote }}
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 1
  failedJobsHistoryLimit: 3
  jobTemplate:
    spec:
      backoffLimit: 2
      template:
        metadata:
          labels:
            {{- include "camkit.labels" $ | nindent 12 }}
            app.kubernetes.io/component: archive
        spec:
          {{- include "archive.pod" $ | nindent 10 }}
          affinity:
            podAffinity:
              requiredDuringSchedulingIgnoredDuringExecution:
                - topologyKey: kubernetes.io/hostname
                  labelSelector:
                    matchLabels:
                      app.kubernetes.io/instance: {{ $.Values.vms.release }}
                      app.kubernetes.io/component: vms
                      camkit.io/shard: {{ .shard | quote }}
          containers:
            - name: rclone
              image: {{ include "camkit.image" $.Values.image }}
              args:
                {{- toYaml .args | nindent 16 }}
              env:
                - {name: RCLONE_CONFIG_WARM_TYPE, value: s3}
                - {name: RCLONE_CONFIG_WARM_PROVIDER, value: Ceph}
                - {name: RCLONE_CONFIG_WARM_ENDPOINT, value: {{ $.Values.warm.endpoint | quote }}}
                - name: RCLONE_CONFIG_WARM_ACCESS_KEY_ID
                  valueFrom: {secretKeyRef: {name: {{ $.Values.warm.claim }}, key: AWS_ACCESS_KEY_ID}}
                - name: RCLONE_CONFIG_WARM_SECRET_ACCESS_KEY
                  valueFrom: {secretKeyRef: {name: {{ $.Values.warm.claim }}, key: AWS_SECRET_ACCESS_KEY}}
                - name: BUCKET_NAME
                  valueFrom: {configMapKeyRef: {name: {{ $.Values.warm.claim }}, key: BUCKET_NAME}}
                {{- if eq .job "backup" }}
                - {name: RCLONE_CONFIG_CITY_TYPE, value: s3}
                - {name: RCLONE_CONFIG_CITY_PROVIDER, value: Ceph}
                - {name: RCLONE_CONFIG_CITY_ENDPOINT, value: {{ $.Values.backup.endpoint | quote }}}
                - name: RCLONE_CONFIG_CITY_ACCESS_KEY_ID
                  valueFrom: {secretKeyRef: {name: {{ $.Values.backup.credentialsSecret }}, key: AWS_ACCESS_KEY_ID}}
                - name: RCLONE_CONFIG_CITY_SECRET_ACCESS_KEY
                  valueFrom: {secretKeyRef: {name: {{ $.Values.backup.credentialsSecret }}, key: AWS_SECRET_ACCESS_KEY}}
                {{- end }}
                - {name: RCLONE_CACHE_DIR, value: /tmp/rclone}
                - {name: RCLONE_CONFIG, value: /tmp/rclone.conf}
                - {name: HOME, value: /tmp}
              securityContext:
                {{- include "camkit.containerSecurityContext" true | nindent 16 }}
              resources:
                {{- toYaml $.Values.resources | nindent 16 }}
              volumeMounts:
                - {name: recordings, mountPath: /recordings}
                - {name: tmp, mountPath: /tmp}
                {{- if eq .job "backup" }}
                - {name: filter, mountPath: /filter, readOnly: true}
                {{- end }}
          volumes:
            - name: recordings
              persistentVolumeClaim:
                claimName: recordings-{{ $.Values.vms.release }}-{{ .shard }}-0
            - name: tmp
              emptyDir: {}
            {{- if eq .job "backup" }}
            - name: filter
              configMap:
                name: {{ $.Release.Name }}-backup-filter
            {{- end }}
{{- end }}
