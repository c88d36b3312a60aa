{{/* Security context every container of the chart runs with (app, init, test). */}}
{{- define "common.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/*
The settings every process of the service gets: dict "root" and "owner" (true for the migration
init containers: the schema owner's database URL; false for the server: the app role's).
*/}}
{{- define "common.env" -}}
{{- $owner := .owner }}
{{- with .root }}
{{- include "common.database.env" (dict "root" . "owner" $owner) }}
- name: {{ include "common.envPrefix" . }}LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
{{- /* readiness answers (503) a second before its probe would give up on it */}}
- name: {{ include "common.envPrefix" . }}READINESS_TIMEOUT
  value: {{ maxf 0.5 (subf (float64 .Values.probes.readiness.timeoutSeconds) 1) | toString | quote }}
{{- $serviceEnv := printf "%s.env" .Chart.Name }}
{{- with include $serviceEnv . }}
{{ . }}
{{- end }}
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end }}

{{- define "common.deployment" -}}
{{- $prefix := include "common.envPrefix" . }}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- $needed := add (int .Values.preStopSleepSeconds) (int .Values.config.shutdownTimeout) }}
{{- if le $grace (int $needed) }}
{{- fail (printf "%s: terminationGracePeriodSeconds (%d) must be larger than preStopSleepSeconds + config.shutdownTimeout (%d), or uvicorn is killed mid-shutdown" .Chart.Name $grace (int $needed)) }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "common.fullname" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: {{ .Values.revisionHistoryLimit }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # a new pod must be Ready before an old one goes: capacity never drops during a rollout
      maxUnavailable: 0
      maxSurge: {{ .Values.rollingUpdate.maxSurge }}
  selector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      {{- $serviceAnnotations := include (printf "%s.podAnnotations" .Chart.Name) . | trim }}
      {{- if or (eq (include "common.database.mode" .) "url") .Values.podAnnotations $serviceAnnotations }}
      annotations:
        {{- if eq (include "common.database.mode" .) "url" }}
        checksum/database: {{ printf "%s %s" .Values.database.url (.Values.database.migrationUrl | default "") | sha256sum }}
        {{- end }}
        {{- with $serviceAnnotations }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      labels:
        {{- include "common.labels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "common.serviceAccountName" . }}
      automountServiceAccountToken: false
      # Service links would inject e.g. USER_SERVICE_PORT=tcp://... into a release named
      # user-service, which the service's settings (prefix USER_SERVICE_) would read.
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $grace }}
      securityContext:
        {{- toYaml .Values.podSecurityContext | nindent 8 }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if .Values.migrations.enabled }}
      # Migrations run here, not in a pre-install hook: on a first install a hook would run before
      # the chart's own PostgreSQL exists. Each new pod first waits for the database, then runs
      # `<service> migrate` (alembic upgrade head, idempotent) with its own image, so a new version
      # never serves before its schema is there. Two pods migrating at once are serialised by the
      # advisory lock `migrate` takes: the second waits, then finds the schema at head.
      initContainers:
        - name: wait-for-database
          image: {{ include "common.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          # the service's own check: its settings' URL, its engine's deadlines, a bounded wait
          command:
            - {{ .Chart.Name | quote }}
            - wait-for-db
            - --timeout
            - {{ .Values.migrations.waitForDatabaseSeconds | quote }}
          env:
            {{- include "common.env" (dict "root" . "owner" true) | trim | nindent 12 }}
          securityContext:
            {{- include "common.containerSecurityContext" . | nindent 12 }}
          resources:
            {{- toYaml .Values.migrations.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
        - name: migrate
          image: {{ include "common.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          command: [{{ .Chart.Name | quote }}, "migrate"]
          env:
            {{- include "common.env" (dict "root" . "owner" true) | trim | nindent 12 }}
          securityContext:
            {{- include "common.containerSecurityContext" . | nindent 12 }}
          resources:
            {{- toYaml .Values.migrations.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      {{- end }}
      containers:
        - name: {{ .Chart.Name }}
          image: {{ include "common.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          # no command: the image's CMD (`app serve`: the service's console script; dev: --reload)
          ports:
            - name: http
              containerPort: {{ .Values.containerPort }}
              protocol: TCP
          env:
            - name: {{ $prefix }}HOST
              value: "0.0.0.0"
            - name: {{ $prefix }}PORT
              value: {{ .Values.containerPort | quote }}
            - name: {{ $prefix }}MAX_HEADER_BYTES
              value: {{ .Values.http.maxHeaderBytes | quote }}
            - name: {{ $prefix }}HEADER_TIMEOUT
              value: {{ .Values.http.headerTimeout | quote }}
            - name: {{ $prefix }}TRUSTED_PROXIES
              value: {{ .Values.http.trustedProxies | quote }}
            - name: {{ $prefix }}WORKERS
              value: {{ .Values.config.workers | quote }}
            - name: {{ $prefix }}SHUTDOWN_TIMEOUT
              value: {{ .Values.config.shutdownTimeout | quote }}
            {{- include "common.env" (dict "root" . "owner" false) | trim | nindent 12 }}
            {{- with include "common.tracing.env" . | trim }}
            {{- . | nindent 12 }}
            {{- end }}
          startupProbe:
            httpGet:
              path: /health/live
              port: http
            {{- toYaml .Values.probes.startup | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /health/ready
              port: http
            {{- toYaml .Values.probes.readiness | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /health/live
              port: http
            {{- toYaml .Values.probes.liveness | nindent 12 }}
          lifecycle:
            preStop:
              # keep serving while the endpoint removal reaches every kube-proxy, then SIGTERM
              exec:
                command: ["sleep", {{ .Values.preStopSleepSeconds | quote }}]
          securityContext:
            {{- include "common.containerSecurityContext" . | nindent 12 }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with include (printf "%s.volumeMounts" .Chart.Name) . | trim }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ .Values.tmpSizeLimit }}
        {{- with include (printf "%s.volumes" .Chart.Name) . | trim }}
        {{- . | nindent 8 }}
        {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
