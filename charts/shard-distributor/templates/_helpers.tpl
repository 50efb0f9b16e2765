{{/*
The chart's name, overridable with nameOverride.
*/}}
{{- define "shard-distributor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release-qualified name of every object the chart creates. A release whose name already
contains the chart's name is used as it is (`helm install shard-distributor …`).
*/}}
{{- define "shard-distributor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
chart-version, for the helm.sh/chart label.
*/}}
{{- define "shard-distributor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object. The component label keeps the operator's pods apart from the
distributor and worker pods the operator itself creates (same app name, other components).
*/}}
{{- define "shard-distributor.labels" -}}
helm.sh/chart: {{ include "shard-distributor.chart" . }}
{{ include "shard-distributor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: shard-distributor
{{- end }}

{{/*
Selector labels: immutable on a Deployment, so nothing that changes between releases.
*/}}
{{- define "shard-distributor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shard-distributor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
The ServiceAccount the operator runs as: created by the chart or brought by the user.
*/}}
{{- define "shard-distributor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "shard-distributor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator's image: repository with a digest when one is given, else with the tag
(default: the chart's appVersion).
*/}}
{{- define "shard-distributor.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The image of the distributor containers the operator creates: the operator's own unless set.
*/}}
{{- define "shard-distributor.distributorImage" -}}
{{- default (include "shard-distributor.image" .) .Values.distributorImage }}
{{- end }}

{{/*
The lease the replicas elect a leader with.
*/}}
{{- define "shard-distributor.leaseName" -}}
{{- .Values.leaderElection.leaseName }}
{{- end }}

{{/*
What the operator reads and writes in the namespaces it watches: the rules of the
ClusterRole (all namespaces) and of each Role (watchNamespaces). Least privilege: no
secrets (credentials reach pods by reference), no wildcards. A change here is a change to
test/unit/chart/rbac.test.ts as well, on purpose.
*/}}
{{- define "shard-distributor.rules" -}}
- apiGroups: ["shards.veda.dev"]
  resources: ["sharddistributors"]
  verbs: ["get", "list", "watch", "update", "patch"]
- apiGroups: ["shards.veda.dev"]
  resources: ["sharddistributors/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["shards.veda.dev"]
  resources: ["sharddistributors/finalizers"]
  verbs: ["update"]
# Worker and distributor Deployments; also Deployments of other workloads (Sidecar placement).
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# StatefulSets of other workloads that get the distributor as a sidecar (Sidecar placement).
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# Read only, to report a missing claim and failing worker pods in the status.
- apiGroups: [""]
  resources: ["persistentvolumeclaims", "pods"]
  verbs: ["get", "list", "watch"]
# The distributor's /load through the API server when the operator runs outside the cluster.
- apiGroups: [""]
  resources: ["services/proxy"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
