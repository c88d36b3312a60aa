{{/*
Where the service's database is, in this order:
  1. database.existingSecret: a Secret you manage, holding the whole SQLAlchemy URL;
  2. database.url: the URL in values; the chart stores it in a Secret (<fullname>-database);
  3. postgresql.enabled: the bundled PostgreSQL subchart; the password comes from its Secret
     and is put into the URL by Kubernetes' $(VAR) expansion (so it must be URL-safe:
     the generated one is alphanumeric).

Least privilege: two roles. Migrations (the init containers) connect as the role that owns the
schema and grant the app role DML; the server connects as the app role, which can neither change
the schema nor is a superuser. Bundled: postgresql.auth.username owns the database,
postgresql.auth.appUsername is the app. External: database.migrationUrl /
database.existingSecretMigrationKey for the owner (empty: the app's URL, and no grant), and
database.appRole names the role to grant.
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

{{/*
The env entries that give a container <PREFIX>DATABASE_URL: dict "root" (the chart's context) and
"owner" (true: the migrations' owner role, with <PREFIX>DB_APP_ROLE; false: the app role).
*/}}
{{- define "common.database.env" -}}
{{- $root := .root }}
{{- $owner := .owner }}
{{- $prefix := include "common.envPrefix" $root }}
{{- $mode := include "common.database.mode" $root }}
{{- $db := $root.Values.database }}
{{- if eq $mode "existingSecret" }}
- name: {{ $prefix }}DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $db.existingSecret }}
      key: {{ ternary ($db.existingSecretMigrationKey | default $db.existingSecretKey) $db.existingSecretKey $owner }}
{{- else if eq $mode "url" }}
- name: {{ $prefix }}DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "common.fullname" $root }}-database
      key: {{ ternary (ternary "migration-url" "url" (not (empty $db.migrationUrl))) "url" $owner }}
{{- else }}
{{- $pg := $root.Values.postgresql }}
{{- $host := include "common.postgresql.fullname" $root }}
{{- $asApp := and (not $owner) (not (empty $pg.auth.appUsername)) }}
{{- $user := ternary $pg.auth.appUsername $pg.auth.username $asApp }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $pg.auth.existingSecret | default $host }}
      key: {{ ternary ($pg.auth.existingSecretAppPasswordKey | default "app-password") ($pg.auth.existingSecretPasswordKey | default "password") $asApp }}
- name: {{ $prefix }}DATABASE_URL
  value: {{ printf "postgresql://%s:$(DATABASE_PASSWORD)@%s:%d/%s" $user $host (int ($pg.service.port | default 5432)) $pg.auth.database | quote }}
{{- end }}
{{- if $owner }}
{{- $appRole := ternary $root.Values.postgresql.auth.appUsername $db.appRole (eq $mode "bundled") }}
{{- with $appRole }}
- name: {{ $prefix }}DB_APP_ROLE
  value: {{ . | quote }}
{{- end }}
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
  {{- with .Values.database.migrationUrl }}
  migration-url: {{ . | quote }}
  {{- end }}
{{- end }}
{{- end }}
