{{/* order-service's own settings, beyond those every service gets (common.env). */}}
{{- define "order-service.env" -}}
- name: ORDER_SERVICE_USER_SERVICE_URL
  value: {{ include "order-service.userServiceURL" . | quote }}
{{- end }}

{{/*
user-service's URL: userService.url, else the Service the user-service chart creates in the
same release (its fullname rule: <release>-user-service, or <release> if it contains the name).
*/}}
{{- define "order-service.userServiceURL" -}}
{{- if .Values.userService.url }}
{{- .Values.userService.url | trimSuffix "/" }}
{{- else }}
{{- $name := "user-service" }}
{{- $host := ternary .Release.Name (printf "%s-%s" .Release.Name $name) (contains $name .Release.Name) | trunc 63 | trimSuffix "-" }}
{{- printf "http://%s:80" $host }}
{{- end }}
{{- end }}

{{/* order-service mounts nothing beyond /tmp, and adds no pod annotation. */}}
{{- define "order-service.volumes" -}}
{{- end }}

{{- define "order-service.volumeMounts" -}}
{{- end }}

{{- define "order-service.podAnnotations" -}}
{{- end }}
