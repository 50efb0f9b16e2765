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
The Lease the replicas elect a leader with: leaderElection.leaseName, else "<fullname>-leader",
so that two releases in one namespace never contend for the same Lease.
*/}}
{{- define "shard-distributor.leaseName" -}}
{{- default (printf "%s-leader" (include "shard-distributor.fullname" .)) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
What the operator reads and writes in the namespaces it watches: the rules of the
ClusterRole (all namespaces) and of each Role (watchNamespaces). Least privilege: only the
verbs the operator's code sends (writes are server-side apply, i.e. PATCH, which creates with
`create`; no PUT anywhere), no secrets (credentials reach pods by reference), no wildcards.
Not here: `get services/proxy`, which only an operator running outside the cluster
(`--load-route proxy`) uses, with its user's kubeconfig rather than this ServiceAccount.
config/rbac/role.yaml holds the same rules; a change here is a change to
test/unit/chart/expected-rbac.ts as well, on purpose.
*/}}
{{- define "shard-distributor.rules" -}}
# Informer (list/watch); finalizer and annotation merge patches.
- apiGroups: ["shards.veda.dev"]
  resources: ["sharddistributors"]
  verbs: ["get", "list", "watch", "patch"]
# Status through server-side apply on the status subresource.
- apiGroups: ["shards.veda.dev"]
  resources: ["sharddistributors/status"]
  verbs: ["patch"]
# Owner references with blockOwnerDeletion on the objects it creates.
- apiGroups: ["shards.veda.dev"]
  resources: ["sharddistributors/finalizers"]
  verbs: ["update"]
# Worker and distributor Deployments; also Deployments of other workloads (Sidecar placement).
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# StatefulSets of other workloads that get the distributor as a sidecar (Sidecar placement):
# read by name, patched by server-side apply; never listed or watched.
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "patch"]
# The distributor's ConfigMap and metrics Service: never deleted by hand, their owner
# reference lets the garbage collector do it.
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Read only: the claim a ShardDistributor names (an informer, metadata only) ...
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["list", "watch"]
# ... and whether a distributor pod still runs (a list by label selector).
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
# Events are created, never patched (no aggregation), and only through the core API.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}
