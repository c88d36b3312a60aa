{{/*
Default deny for the service's pods, then exactly what it needs:
  ingress: on the http port from the app names in networkPolicy.allowedClients (same release) and
           their `helm test` pods (<client>-test: order-service's test checks user-service), from
           this chart's `helm test` pods, from networkPolicy.metricsFrom when the ServiceMonitor is
           on, and from networkPolicy.extraIngress peers;
  egress:  DNS; its database (the bundled PostgreSQL's pods on postgresql.service.port, or
           networkPolicy.databaseEgress on networkPolicy.databasePort for an external one); the
           apps in networkPolicy.allowedUpstreams (same release); the OTLP collector's port when
           tracing is on (networkPolicy.tracingEgress peers); extraEgress.
*/}}
{{- define "common.networkPolicy" -}}
{{- if .Values.networkPolicy.enabled }}
{{- $root := . }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "common.fullname" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    - ports:
        - port: http
          protocol: TCP
      from:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: {{ include "common.name" . }}-test
              app.kubernetes.io/instance: {{ .Release.Name }}
        {{- range .Values.networkPolicy.allowedClients }}
        {{- range $name := list . (printf "%s-test" .) }}
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: {{ $name }}
              app.kubernetes.io/instance: {{ $root.Release.Name }}
        {{- end }}
        {{- end }}
        {{- if and .Values.serviceMonitor.enabled .Values.networkPolicy.metricsFrom }}
        {{- toYaml .Values.networkPolicy.metricsFrom | nindent 8 }}
        {{- end }}
        {{- with .Values.networkPolicy.extraIngress }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  egress:
    - ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    {{- if eq (include "common.database.mode" .) "bundled" }}
    - to:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: {{ .Values.postgresql.nameOverride | default "postgresql" }}
              app.kubernetes.io/instance: {{ .Release.Name }}
      ports:
        - port: {{ int (.Values.postgresql.service.port | default 5432) }}
          protocol: TCP
    {{- else }}
    - ports:
        - port: {{ .Values.networkPolicy.databasePort }}
          protocol: TCP
      {{- with .Values.networkPolicy.databaseEgress }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- range .Values.networkPolicy.allowedUpstreams }}
    - to:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: {{ . }}
              app.kubernetes.io/instance: {{ $root.Release.Name }}
      ports:
        - port: {{ $root.Values.containerPort }}
          protocol: TCP
    {{- end }}
    {{- with include "common.tracing.port" . }}
    # the OTLP collector (tracing.otlpEndpoint): its port, to networkPolicy.tracingEgress peers
    - ports:
        - port: {{ . }}
          protocol: TCP
      {{- with $root.Values.networkPolicy.tracingEgress }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- with .Values.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end }}
