{{/*
Name of the chart, or nameOverride.
*/}}
{{- define "ecap.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every resource name: fullnameOverride, else the release name if it
contains the chart name, else <release>-<chart>. With the release `ecap` the
names equal those of `kubectl kustomize config/default`.
*/}}
{{- define "ecap.fullname" -}}
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

{{/*
Labels of every object.
*/}}
{{- define "ecap.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ecap.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ecap
{{- end }}

{{/*
Labels that select the manager pods.
*/}}
{{- define "ecap.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecap.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the manager's ServiceAccount.
*/}}
{{- define "ecap.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "ecap.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image of the manager container.
*/}}
{{- define "ecap.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Names shared by the webhook Service, certificate and configuration.
*/}}
{{- define "ecap.webhookServiceName" -}}
{{- printf "%s-webhook-service" (include "ecap.fullname" .) }}
{{- end }}

{{- define "ecap.webhookCertSecretName" -}}
{{- printf "%s-webhook-server-cert" (include "ecap.fullname" .) }}
{{- end }}

{{- define "ecap.servingCertName" -}}
{{- printf "%s-serving-cert" (include "ecap.fullname" .) }}
{{- end }}
