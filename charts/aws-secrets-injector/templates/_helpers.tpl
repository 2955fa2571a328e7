{{/*
Names, labels and shared fragments of the aws-secrets-injector chart.
*/}}

{{/* Chart name, limited to 63 characters. */}}
{{- define "asi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every object: the release name, plus the chart name when the
release name does not contain it. Limited so that "<fullname>-webhook-tls" stays
a valid name.
*/}}
{{- define "asi.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Object names, one per role. */}}
{{- define "asi.mounter.name" -}}{{ include "asi.fullname" . }}-mounter{{- end }}
{{- define "asi.provider.name" -}}{{ include "asi.fullname" . }}-provider{{- end }}
{{- define "asi.webhook.name" -}}{{ include "asi.fullname" . }}-webhook{{- end }}
{{- define "asi.webhook.secretName" -}}{{ include "asi.fullname" . }}-webhook-tls{{- end }}
{{- define "asi.webhook.configName" -}}{{ include "asi.fullname" . }}{{- end }}
{{- define "asi.webhook.issuerName" -}}{{ include "asi.fullname" . }}-selfsigned{{- end }}

{{/* Labels on every object. */}}
{{- define "asi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "asi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aws-secrets-injector
{{- end }}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "mounter"). */}}
{{- define "asi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "asi.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component's objects. */}}
{{- define "asi.componentLabels" -}}
{{ include "asi.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "asi.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Logging arguments shared by every component. */}}
{{- define "asi.logArgs" -}}
- --log-format={{ .Values.logging.format }}
- --v={{ .Values.logging.verbosity }}
{{- end }}

{{/* Namespaces the webhook never mutates. */}}
{{- define "asi.webhook.excludedNamespaces" -}}
{{- $ns := list .Release.Namespace "kube-system" "kube-public" }}
{{- range .Values.webhook.excludeNamespaces }}
{{- if not (has . $ns) }}{{ $ns = append $ns . }}{{ end }}
{{- end }}
{{- toJson $ns }}
{{- end }}

{{/* Fails the render on combinations the schema cannot express. */}}
{{- define "asi.validate" -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- end }}

{{/*
asi.awsEnv: the AWS SDK's own environment variables for the per-service
endpoints, FIPS and dual-stack (aws.endpoints, aws.useFIPS, aws.useDualStack),
as container env entries.
*/}}
{{- define "asi.awsEnv" -}}
{{- with .Values.aws.endpoints.sts }}
- name: AWS_ENDPOINT_URL_STS
  value: {{ . | quote }}
{{- end }}
{{- with .Values.aws.endpoints.secretsManager }}
- name: AWS_ENDPOINT_URL_SECRETS_MANAGER
  value: {{ . | quote }}
{{- end }}
{{- with .Values.aws.endpoints.ssm }}
- name: AWS_ENDPOINT_URL_SSM
  value: {{ . | quote }}
{{- end }}
{{- if .Values.aws.useFIPS }}
- name: AWS_USE_FIPS_ENDPOINT
  value: "true"
{{- end }}
{{- if .Values.aws.useDualStack }}
- name: AWS_USE_DUALSTACK_ENDPOINT
  value: "true"
{{- end }}
{{- end }}
