{{/*
OpenTelemetry for the service's container: the standard OTEL_* variables the SDK reads
(docs/design.md, "Traces"). Rendered only when an OTLP endpoint is set (tracing.otlpEndpoint, else
global.tracing.otlpEndpoint): without one the service sets up no tracing at all. The pod's name and
namespace become resource attributes (downward API), and service.version is the image tag.
*/}}
{{- define "common.tracing.endpoint" -}}
{{- $global := (.Values.global | default dict).tracing | default dict }}
{{- .Values.tracing.otlpEndpoint | default $global.otlpEndpoint }}
{{- end }}

{{/* The collector's port (from the endpoint URL, else 80/443 by scheme), or nothing. */}}
{{- define "common.tracing.port" -}}
{{- with include "common.tracing.endpoint" . }}
{{- $url := urlParse . }}
{{- $hostPort := splitList ":" $url.host }}
{{- if gt (len $hostPort) 1 }}
{{- last $hostPort }}
{{- else }}
{{- ternary "443" "80" (eq $url.scheme "https") }}
{{- end }}
{{- end }}
{{- end }}

{{- define "common.tracing.env" -}}
{{- $endpoint := include "common.tracing.endpoint" . }}
{{- if $endpoint }}
{{- $attributes := list
      (printf "service.version=%s" (include "common.imageTag" .))
      "k8s.namespace.name=$(OTEL_K8S_NAMESPACE)"
      "k8s.pod.name=$(OTEL_K8S_POD_NAME)" }}
{{- range $key, $value := .Values.tracing.resourceAttributes }}
{{- $attributes = append $attributes (printf "%s=%s" $key (toString $value | urlquery | replace "+" "%20")) }}
{{- end }}
- name: OTEL_K8S_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OTEL_K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: OTEL_SERVICE_NAME
  value: {{ .Chart.Name | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attributes | quote }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $endpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ .Values.tracing.sampler | quote }}
{{- if hasSuffix "traceidratio" .Values.tracing.sampler }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .Values.tracing.samplerRatio | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
