{{/*
The three services, in the order every template renders them. Each has its own top-level values
key (agent, tfidf, transformer) and runs `callcenterai serve <name>`.
*/}}
{{- define "callcenterai.services" -}}
agent tfidf transformer
{{- end }}

{{- define "callcenterai.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release; a service's objects are named "<fullname>-<service>", which must stay
within 63 characters (Service names are DNS labels).
*/}}
{{- define "callcenterai.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "callcenterai.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of one service's objects. Call with (dict "root" $ "service" "tfidf"). */}}
{{- define "callcenterai.serviceName" -}}
{{- printf "%s-%s" (include "callcenterai.fullname" .root) .service }}
{{- end }}

{{- define "callcenterai.selectorLabels" -}}
app.kubernetes.io/name: {{ include "callcenterai.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end }}

{{- define "callcenterai.labels" -}}
helm.sh/chart: {{ include "callcenterai.chart" .root }}
{{ include "callcenterai.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: callcenterai
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* Labels of objects that belong to the release as a whole (ServiceAccount). */}}
{{- define "callcenterai.commonLabels" -}}
helm.sh/chart: {{ include "callcenterai.chart" . }}
app.kubernetes.io/name: {{ include "callcenterai.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: callcenterai
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "callcenterai.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "callcenterai.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* <registry>/callcenterai-<service>:<tag>, the images docker/<service>.Dockerfile builds. */}}
{{- define "callcenterai.image" -}}
{{- $values := index .root.Values .service }}
{{- $tag := $values.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- printf "%s/callcenterai-%s:%s" (trimSuffix "/" .root.Values.image.registry) .service (toString $tag) }}
{{- end }}

{{/* Base URL of one service inside the cluster, e.g. http://callcenterai-tfidf:8001. */}}
{{- define "callcenterai.serviceUrl" -}}
{{- printf "http://%s:%v" (include "callcenterai.serviceName" .) (index .root.Values .service).port }}
{{- end }}

{{/*
A service's environment, as the ConfigMap's data: the shared config, then the service's own, then
what the chart derives (tracking and model URI, the agent's downstream URLs) unless set there.
Lists are written as JSON (pydantic-settings reads list settings as JSON).
*/}}
{{- define "callcenterai.env" -}}
{{- $root := .root }}
{{- $values := index $root.Values .service }}
{{- $env := dict }}
{{- if eq .service "agent" }}
{{- $_ := set $env "CALLCENTERAI_TFIDF_URL" (include "callcenterai.serviceUrl" (dict "root" $root "service" "tfidf")) }}
{{- $_ := set $env "CALLCENTERAI_TRANSFORMER_URL" (include "callcenterai.serviceUrl" (dict "root" $root "service" "transformer")) }}
{{- /* Drift monitoring reads the models' reference profiles from their MLflow runs. */}}
{{- if $root.Values.mlflow.trackingUri }}
{{- $_ := set $env "MLFLOW_TRACKING_URI" $root.Values.mlflow.trackingUri }}
{{- end }}
{{- /* The ticket store: a database shared by every replica (a Secret's URL), else off. */}}
{{- if not $values.store.existingSecret }}
{{- $_ := set $env "CALLCENTERAI_STORE_ENABLED" "false" }}
{{- end }}
{{- else }}
{{- $_ := set $env "MLFLOW_TRACKING_URI" (required "mlflow.trackingUri is required: the model services load their models from MLflow" $root.Values.mlflow.trackingUri) }}
{{- $_ := set $env "CALLCENTERAI_MODEL_URI" ($values.modelUri | default (printf "models:/callcenterai-%s@production" .service)) }}
{{- end }}
{{- $env = mergeOverwrite $env (deepCopy ($root.Values.config | default dict)) (deepCopy ($values.config | default dict)) }}
{{- range $key, $value := $env }}
{{- if kindIs "slice" $value }}
{{ $key }}: {{ toJson $value | quote }}
{{- else if kindIs "invalid" $value }}
{{ $key }}: ""
{{- else }}
{{ $key }}: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end }}
