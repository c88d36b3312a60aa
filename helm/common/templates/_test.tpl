{{/*
`helm test`: a pod with the service's own image (python, no curl) asks each URL in $urls for
200. Its name label is <name>-test, so the Service never routes to it.
*/}}
{{- define "common.testPod" -}}
{{- $root := .root }}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "common.fullname" $root }}-test
  labels:
    helm.sh/chart: {{ include "common.chart" $root }}
    app.kubernetes.io/name: {{ include "common.name" $root }}-test
    app.kubernetes.io/instance: {{ $root.Release.Name }}
    app.kubernetes.io/version: {{ include "common.imageTag" $root | trunc 63 | trimSuffix "-" | quote }}
    app.kubernetes.io/component: test
    app.kubernetes.io/part-of: {{ $root.Values.partOf }}
    app.kubernetes.io/managed-by: {{ $root.Release.Service }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: check
      image: {{ include "common.image" $root | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      command:
        - python
        - -c
        - |
          import sys, time, urllib.request
          urls = sys.argv[1:]
          for url in urls:
              for attempt in range(10):
                  try:
                      with urllib.request.urlopen(url, timeout=5) as response:
                          print(url, response.status, response.read(200).decode(), flush=True)
                          break
                  except Exception as exc:
                      print(url, "attempt", attempt + 1, "failed:", exc, flush=True)
                      time.sleep(2)
              else:
                  sys.exit(f"{url} did not answer 200")
        {{- range .urls }}
        - {{ . | quote }}
        {{- end }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      resources:
        {{- toYaml $root.Values.tests.resources | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
{{- end }}
