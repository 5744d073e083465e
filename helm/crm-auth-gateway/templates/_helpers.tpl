{{/* Names and labels. */}}
{{- define "crm-auth-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "crm-auth-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "crm-auth-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crm-auth-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "crm-auth-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "crm-auth-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "crm-auth-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "crm-auth-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "crm-auth-gateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The container port that serves /healthz, /readyz and /metrics. */}}
{{- define "crm-auth-gateway.healthPort" -}}
{{- if .Values.gateway.adminPort }}admin{{ else }}http{{ end }}
{{- end }}

{{/* Where the ConfigMap is mounted; the config file and the policy directory inside it. */}}
{{- define "crm-auth-gateway.configDir" -}}/etc/crm-gateway{{- end }}

{{/* Where redis.existingSecret is mounted; its key is the file "url" there. */}}
{{- define "crm-auth-gateway.redisSecretDir" -}}/run/secrets/redis{{- end }}

{{/*
gateway.yaml: the user's config with the keys the chart owns set from values.
*/}}
{{- define "crm-auth-gateway.config" -}}
{{- $cfg := .Values.config }}
{{- if empty $cfg }}
{{- $cfg = .Files.Get "files/gateway.example.yaml" }}
{{- end }}
{{- if kindIs "string" $cfg }}
{{- $cfg = fromYaml $cfg }}
{{- if hasKey $cfg "Error" }}
{{- fail (printf "config is not valid YAML: %s" (get $cfg "Error")) }}
{{- end }}
{{- end }}
{{- $cfg = deepCopy (default (dict) $cfg) }}
{{- $_ := set $cfg "listen" (dict "host" "0.0.0.0" "port" (int .Values.gateway.port)) }}
{{- $obs := deepCopy (default (dict) (get $cfg "observability")) }}
{{- if .Values.gateway.adminPort }}
{{- $_ := set $obs "admin" (dict "host" "0.0.0.0" "port" (int .Values.gateway.adminPort)) }}
{{- else }}
{{- $_ := unset $obs "admin" }}
{{- end }}
{{- if $obs }}
{{- $_ := set $cfg "observability" $obs }}
{{- end }}
{{- if .Values.policies }}
{{- $_ := set $cfg "policies" (list (printf "%s/policies/" (include "crm-auth-gateway.configDir" .))) }}
{{- else if not (hasKey $cfg "policies") }}
{{- $_ := set $cfg "policies" (list) }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- if not (or .Values.redis.url .Values.redis.existingSecret) }}
{{- fail "redis.enabled needs redis.url or redis.existingSecret" }}
{{- end }}
{{- $rl := deepCopy (default (dict) (get $cfg "ratelimit")) }}
{{- $_ := set $rl "backend" "redis" }}
{{- if .Values.redis.existingSecret }}
{{- $_ := set $rl "url" (printf "${file:%s/url}" (include "crm-auth-gateway.redisSecretDir" .)) }}
{{- else }}
{{- $_ := set $rl "url" .Values.redis.url }}
{{- end }}
{{- $_ := set $rl "on_error" .Values.redis.onError }}
{{- $_ := set $rl "timeout_ms" (int .Values.redis.timeoutMs) }}
{{- $_ := set $rl "prefix" .Values.redis.prefix }}
{{- $_ := set $cfg "ratelimit" $rl }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* A policy document: YAML text as given, a map through toYaml. */}}
{{- define "crm-auth-gateway.policyText" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ toYaml . }}{{ end }}
{{- end }}

{{/* Refuse combinations that would break shutdown or scheduling. */}}
{{- define "crm-auth-gateway.validate" -}}
{{- $needed := add (int .Values.gateway.preStopSleepSeconds) (int (ceil .Values.gateway.graceSeconds)) 5 }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be at least gateway.preStopSleepSeconds + gateway.graceSeconds + 5 s of margin (%v)" .Values.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}
