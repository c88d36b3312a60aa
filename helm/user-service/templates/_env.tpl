{{/* user-service's own settings, beyond those every service gets (common.env). */}}
{{- define "user-service.env" -}}
- name: USER_SERVICE_KEYS_DIR
  value: /var/run/secrets/user-service/signing-keys
{{- with .Values.limits }}
- name: USER_SERVICE_LOGIN_MAX_FAILURES
  value: {{ .loginMaxFailures | quote }}
- name: USER_SERVICE_LOGIN_LOCKOUT
  value: {{ .loginLockout | quote }}
- name: USER_SERVICE_LOGIN_MAX_LOCKOUT
  value: {{ .loginMaxLockout | quote }}
- name: USER_SERVICE_LOGIN_TABLE_SIZE
  value: {{ .loginTableSize | int | quote }}
- name: USER_SERVICE_PASSWORD_HASH_CONCURRENCY
  value: {{ .passwordHashConcurrency | quote }}
- name: USER_SERVICE_PASSWORD_HASH_QUEUE
  value: {{ .passwordHashQueue | quote }}
- name: USER_SERVICE_CLIENT_RATE
  value: {{ .clientRate | quote }}
- name: USER_SERVICE_CLIENT_BURST
  value: {{ .clientBurst | int | quote }}
- name: USER_SERVICE_CLIENT_TABLE_SIZE
  value: {{ .clientTableSize | int | quote }}
{{- end }}
{{- end }}

{{/* The Secret with the token signing keys: signingKeys.existingSecret, else the chart's. */}}
{{- define "user-service.signingKeysSecret" -}}
{{- .Values.signingKeys.existingSecret | default (printf "%s-signing-keys" (include "common.fullname" .)) }}
{{- end }}

{{/* The signing keys, mounted read-only where USER_SERVICE_KEYS_DIR points (server only). */}}
{{- define "user-service.volumes" -}}
- name: signing-keys
  secret:
    secretName: {{ include "user-service.signingKeysSecret" . }}
    defaultMode: 0440
{{- end }}

{{- define "user-service.volumeMounts" -}}
- name: signing-keys
  mountPath: /var/run/secrets/user-service/signing-keys
  readOnly: true
{{- end }}

{{/* No checksum of the keys: they are read at start, so a rotation ends with a rollout
restart (helm/README.md), and an upgrade that keeps them restarts nothing. */}}
{{- define "user-service.podAnnotations" -}}
{{- end }}

{{/*
The chart's key Secret data: the keys already in the cluster (upgrades keep them, so tokens stay
valid and a rotation done with kubectl survives), else one new Ed25519 key named by the UTC time.
*/}}
{{- define "user-service.signingKeysData" -}}
{{- $name := printf "%s-signing-keys" (include "common.fullname" .) }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name }}
{{- if and $existing $existing.data }}
{{- toYaml $existing.data }}
{{- else }}
{{- $kid := dateInZone "20060102T150405Z" (now) "UTC" }}
{{ $kid }}.pem: {{ genPrivateKey "ed25519" | b64enc }}
{{- end }}
{{- end }}
