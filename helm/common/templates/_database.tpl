{{/*
Where the service's database is, in this order:
  1. database.existingSecret: a Secret you manage, holding the whole SQLAlchemy URL;
  2. database.url: the URL in values; the chart stores it in a Secret (<fullname>-database);
  3. postgresql.enabled: the bundled PostgreSQL subchart; the password comes from its Secret
     and is put into the URL by Kubernetes' $(VAR) expansion (so it must be URL-safe:
     the generated one is alphanumeric).
*/}}

{{/* The bundled PostgreSQL's object name, by the same rule as the postgresql chart's fullname. */}}
{{- define "common.postgresql.fullname" -}}
{{- $pg := .Values.postgresql }}
{{- if $pg.fullnameOverride }}
{{- $pg.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "postgresql" $pg.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "common.database.mode" -}}
{{- if .Values.database.existingSecret -}}
existingSecret
{{- else if .Values.database.url -}}
url
{{- else if .Values.postgresql.enabled -}}
bundled
{{- else -}}
{{- fail (printf "%s: no database: set database.existingSecret, database.url, or postgresql.enabled=true" .Chart.Name) -}}
{{- end }}
{{- end }}

{{/* The env entries that give the container <PREFIX>DATABASE_URL. */}}
{{- define "common.database.env" -}}
{{- $prefix := include "common.envPrefix" . }}
{{- $mode := include "common.database.mode" . }}
{{- if eq $mode "existingSecret" }}
- name: {{ $prefix }}DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.existingSecretKey }}
{{- else if eq $mode "url" }}
- name: {{ $prefix }}DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "common.fullname" . }}-database
      key: url
{{- else }}
{{- $pg := .Values.postgresql }}
{{- $host := include "common.postgresql.fullname" . }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $pg.auth.existingSecret | default $host }}
      key: {{ $pg.auth.existingSecretPasswordKey | default "password" }}
- name: {{ $prefix }}DATABASE_URL
  value: {{ printf "postgresql://%s:$(DATABASE_PASSWORD)@%s:%d/%s" $pg.auth.username $host (int ($pg.service.port | default 5432)) $pg.auth.database | quote }}
{{- end }}
{{- end }}

{{- define "common.database.secret" -}}
{{- if eq (include "common.database.mode" .) "url" }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "common.fullname" . }}-database
  labels:
    {{- include "common.labels" . | nindent 4 }}
type: Opaque
stringData:
  url: {{ .Values.database.url | quote }}
{{- end }}
{{- end }}
