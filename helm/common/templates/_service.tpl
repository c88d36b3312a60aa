{{- define "common.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "common.fullname" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
  {{- with .Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .Values.service.type }}
  selector:
    {{- include "common.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
      {{- if and (eq .Values.service.type "NodePort") .Values.service.nodePort }}
      nodePort: {{ .Values.service.nodePort }}
      {{- end }}
{{- end }}

{{- define "common.serviceAccount" -}}
{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "common.serviceAccountName" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# the service never talks to the Kubernetes API
automountServiceAccountToken: false
{{- end }}
{{- end }}

{{- define "common.hpa" -}}
{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "common.fullname" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "common.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
    {{- with .Values.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end }}
{{- end }}

{{/*
Refuse a PodDisruptionBudget no eviction could satisfy: with it, every node drain and cluster
upgrade waits forever. The pods it guards are replicaCount, or autoscaling.minReplicas (the
fewest an HPA keeps); percentages round up, as the disruption controller rounds them.
*/}}
{{- define "common.pdb.check" -}}
{{- $pdb := .Values.podDisruptionBudget }}
{{- $replicas := int (ternary .Values.autoscaling.minReplicas .Values.replicaCount .Values.autoscaling.enabled) }}
{{- $min := toString $pdb.minAvailable }}
{{- $blocked := false }}
{{- $what := "" }}
{{- if ne $min "" }}
{{- $required := int $min }}
{{- if hasSuffix "%" $min }}
{{- $required = int (ceil (divf (mulf $replicas (float64 (trimSuffix "%" $min))) 100)) }}
{{- end }}
{{- $blocked = ge $required $replicas }}
{{- $what = printf "minAvailable %s" $min }}
{{- else }}
{{- $max := toString $pdb.maxUnavailable }}
{{- $allowed := int $max }}
{{- if hasSuffix "%" $max }}
{{- $allowed = int (ceil (divf (mulf $replicas (float64 (trimSuffix "%" $max))) 100)) }}
{{- end }}
{{- $blocked = le $allowed 0 }}
{{- $what = printf "maxUnavailable %s" $max }}
{{- end }}
{{- if $blocked }}
{{- fail (printf "%s: podDisruptionBudget %s with %d replica(s) would block every voluntary eviction (node drains and cluster upgrades would hang): let at least one pod go (lower minAvailable, or raise replicaCount / autoscaling.minReplicas)" .Chart.Name $what $replicas) }}
{{- end }}
{{- end }}

{{- define "common.pdb" -}}
{{- if .Values.podDisruptionBudget.enabled }}
{{- include "common.pdb.check" . }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "common.fullname" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  {{- if .Values.podDisruptionBudget.minAvailable }}
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{- define "common.serviceMonitor" -}}
{{- if and .Values.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "common.fullname" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
    {{- with .Values.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "common.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: http
      path: {{ .Values.serviceMonitor.path }}
      interval: {{ .Values.serviceMonitor.interval }}
{{- end }}
{{- end }}
