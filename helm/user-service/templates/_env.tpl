{{/* user-service's own settings, beyond those every service gets (common.env). */}}
{{- define "user-service.env" -}}
{{- end }}
