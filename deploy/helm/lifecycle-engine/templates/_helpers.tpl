{{- define "lifecycle.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lifecycle.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lifecycle.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "lifecycle.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component (api, worker, migrate...): pass (list $ "api"). */}}
{{- define "lifecycle.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "lifecycle.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "lifecycle.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "lifecycle.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "lifecycle.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "lifecycle.secretName" -}}
{{- if .Values.secrets.create -}}
{{- printf "%s-app" (include "lifecycle.fullname" .) -}}
{{- else -}}
{{- required "secrets.existingSecret: name the Secret with DATABASE_URL, the API keys... (or secrets.create: true)" .Values.secrets.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "lifecycle.migrateSecretName" -}}
{{- if .Values.secrets.create -}}
{{- printf "%s-migrate" (include "lifecycle.fullname" .) -}}
{{- else -}}
{{- required "secrets.existingMigrateSecret: name the Secret with LIFECYCLE_MIGRATE_DATABASE_URL (or secrets.create: true)" .Values.secrets.existingMigrateSecret -}}
{{- end -}}
{{- end -}}

{{- define "lifecycle.configChecksum" -}}
{{- include (print $.Template.BasePath "/configmap.yaml") . | sha256sum -}}
{{- end -}}

{{/* A key of the app Secret as an environment variable; optional ones may be absent. */}}
{{- define "lifecycle.secretEnv" -}}
{{- $root := index . 0 -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "lifecycle.secretName" $root }}
      key: {{ index . 1 }}
      optional: {{ index . 2 }}
{{- end -}}

{{/* What every engine process reads: Temporal, the config file, extra env. */}}
{{- define "lifecycle.commonEnv" -}}
- name: LIFECYCLE_CONFIG
  value: /etc/lifecycle/lifecycle.toml
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address: the Temporal frontend (host:port)" .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: TEMPORAL_TASK_QUEUE
  value: {{ .Values.temporal.taskQueue | quote }}
{{- if or .Values.temporal.tls.enabled .Values.temporal.tls.clientCertSecret .Values.temporal.apiKey }}
- name: TEMPORAL_TLS
  value: "true"
{{- end }}
{{- with .Values.temporal.tls.serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if .Values.temporal.tls.clientCertSecret }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /etc/temporal/tls/tls.crt
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /etc/temporal/tls/tls.key
{{- if .Values.temporal.tls.serverCaCert }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: /etc/temporal/tls/ca.crt
{{- end }}
{{- end }}
{{- if .Values.temporal.apiKey }}
{{ include "lifecycle.secretEnv" (list . "TEMPORAL_API_KEY" false) }}
{{- end }}
{{ include "lifecycle.secretEnv" (list . "DATABASE_URL" false) }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "lifecycle.volumeMounts" -}}
- name: config
  mountPath: /etc/lifecycle
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.temporal.tls.clientCertSecret }}
- name: temporal-tls
  mountPath: /etc/temporal/tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "lifecycle.volumes" -}}
- name: config
  configMap:
    name: {{ include "lifecycle.fullname" . }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.temporal.tls.clientCertSecret }}
- name: temporal-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end -}}

{{- define "lifecycle.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "lifecycle.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
