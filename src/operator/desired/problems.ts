import type { ShardDistributor } from '../../api/index.ts';
import { ConfigError, renderIni } from '../../config/index.ts';
import { configFor } from './ini.ts';
import { metricsServiceName } from './names.ts';
import { poolsOf, type WorkerPool } from './pools.ts';
import { sidecarContainerName, sidecarVolumeNames } from './sidecar.ts';
import { natsTlsPaths } from './volumes.ts';
import { failureEnvFor } from './worker-deployment.ts';

/** Something wrong that a person must fix; becomes the Degraded condition. */
export interface Problem {
  /** CamelCase, for the condition's reason. */
  reason: string;
  /** A sentence saying what is wrong and what to do. */
  message: string;
}

export const REASON_INVALID_SPEC = 'InvalidSpec';
/** An object the operator would own already exists and is someone else's (left alone). */
export const REASON_NOT_OWNED = 'NameConflict';
/** A write of this reconcile failed (a quota, an admission webhook, a missing permission). */
export const REASON_APPLY_FAILED = 'ApplyFailed';
/** worker.env sets an SD_* variable the failure policy sets: the policy's value is used. */
export const REASON_FAILURE_ENV_OVERRIDDEN = 'FailureEnvOverridden';
/** A veda queue without a claim: every pod gets its own empty directory. */
export const REASON_NO_SHARED_VOLUME = 'NoSharedVolume';
/** The claim queue.veda.persistentVolumeClaim names does not exist. */
export const REASON_VOLUME_CLAIM_NOT_FOUND = 'VolumeClaimNotFound';
/** The workload distributor.sidecarOf names does not exist: nothing is applied. */
export const REASON_SIDECAR_HOST_NOT_FOUND = 'SidecarHostNotFound';
/** The sidecar's host runs as root: the sidecar is not added to it. */
export const REASON_SIDECAR_HOST_RUNS_AS_ROOT = 'SidecarHostRunsAsRoot';

/**
 * Every reason, the most serious first: what keeps this generation from being applied (in
 * whole or in part), then what keeps what was applied from working, then what runs but not
 * as written. Degraded's reason and the start of its message are the first problem's, so a
 * standing advisory (a sample without a claim) must not hide an edit that was refused.
 */
const BY_SEVERITY: readonly string[] = [
  REASON_INVALID_SPEC, // nothing of this generation can be built
  REASON_APPLY_FAILED, // a write of this reconcile was refused
  REASON_SIDECAR_HOST_NOT_FOUND, // nothing to attach the distributor to, so nothing is applied
  REASON_NOT_OWNED, // the objects someone else holds are left as they are
  REASON_SIDECAR_HOST_RUNS_AS_ROOT, // the distributor is not added, so none runs
  REASON_VOLUME_CLAIM_NOT_FOUND, // applied, but its pods stay Pending
  REASON_NO_SHARED_VOLUME, // runs, but the workers never see the shard queues
  REASON_FAILURE_ENV_OVERRIDDEN, // runs, with a value the person wrote unused
];

function severity(reason: string): number {
  const rank = BY_SEVERITY.indexOf(reason);
  // A reason not ranked above is still worth saying, after the ones that are.
  return rank === -1 ? BY_SEVERITY.length : rank;
}

/** `problems` the most serious first; problems of one reason keep their order. */
export function mostSeriousFirst(problems: readonly Problem[]): Problem[] {
  return [...problems].sort((a, b) => severity(a.reason) - severity(b.reason));
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const MAX_LABEL = 63;

function invalid(message: string): Problem {
  return { reason: REASON_INVALID_SPEC, message };
}

function checkName(name: string, rule: RegExp, what: string, problems: Problem[]): void {
  if (name.length > MAX_LABEL || !rule.test(name)) {
    problems.push(
      invalid(
        `the ${what} would be named ${name}, which is not a valid name (at most ${MAX_LABEL} lower-case letters, digits and '-'); give the ShardDistributor a shorter name without dots`,
      ),
    );
  }
}

/**
 * What the CRD schema cannot reject but the operator cannot build or run: names that
 * would be invalid, queue volumes that are missing, and a spec the INI rules refuse (say a
 * `{word}` in worker.command). The reconciler checks these before building anything.
 */
export function specProblems(sd: ShardDistributor): Problem[] {
  const problems: Problem[] = [];
  const { spec } = sd;
  const name = sd.metadata.name;
  if (name.length > MAX_LABEL) {
    problems.push(
      invalid(
        `the name ${name} is longer than ${MAX_LABEL} characters and cannot be a label value; use a shorter name`,
      ),
    );
  }
  checkName(metricsServiceName(sd), DNS_1035_LABEL, 'metrics Service', problems);
  const sidecar = spec.distributor.placement === 'Sidecar';
  if (sidecar) {
    checkName(sidecarContainerName(sd), DNS_LABEL, 'sidecar container', problems);
    checkName(sidecarVolumeNames(sd).config, DNS_LABEL, 'sidecar config volume', problems);
    // Longer than the config volume's name, so checked too, but only when there is one.
    if (Object.keys(natsTlsPaths(sd)).length > 0)
      checkName(sidecarVolumeNames(sd).natsTls, DNS_LABEL, 'sidecar NATS TLS volume', problems);
  }
  if (spec.queue.backend === 'veda') {
    if (spec.queue.veda?.persistentVolumeClaim === undefined) {
      problems.push({
        reason: REASON_NO_SHARED_VOLUME,
        message:
          'queue.veda.persistentVolumeClaim is not set, so every pod gets its own empty directory and the workers never see the shard queues; set it to a claim all pods can mount (ReadWriteMany, or ReadWriteOnce with every pod on one node)',
      });
    }
    if (sidecar && spec.queue.veda?.volumeName === undefined) {
      const of = spec.distributor.sidecarOf;
      const host = of === undefined ? 'the host workload' : `${of.kind} ${of.name}`;
      problems.push(
        invalid(
          `queue.veda.volumeName is required with distributor.placement Sidecar; set it to the name of the volume of ${host} that holds the main queue`,
        ),
      );
    }
  }
  const pools = poolsOf(sd);
  for (const pool of pools) {
    const where = pool.isDefault ? 'worker' : `pools[${pool.name}].worker`;
    // A pool without a worker of its own uses spec.worker, already checked.
    if (pool.isDefault || spec.pools?.find((p) => p.name === pool.name)?.worker !== undefined)
      problems.push(...podTemplateProblems(pool.worker.podTemplate, where));
  }
  problems.push(...failureEnvProblems(sd, pools));
  const poolProblems = duplicatePoolProblems(pools);
  problems.push(...poolProblems);
  // The INI rules would only repeat a pool clash in their own words.
  if (poolProblems.length === 0) {
    try {
      renderIni(configFor(sd, { liveShards: spec.minWorkers, drainingShards: [] }));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(invalid(`the spec does not make a valid distributor config: ${error.message}`));
    }
  }
  return problems;
}

/**
 * worker.env entries the failure policy's SD_* variables replace: the Deployments are built
 * (ours win), but what the person wrote is not what runs, so it is a Degraded problem.
 */
function failureEnvProblems(sd: ShardDistributor, pools: readonly WorkerPool[]): Problem[] {
  // One problem per worker.env and policy, naming every pool it reaches.
  const found = new Map<
    string,
    { where: string; names: string[]; policy: string; pools: string[] }
  >();
  for (const pool of pools) {
    const owned = new Set(Object.keys(failureEnvFor(pool)));
    const names = (pool.worker.env ?? []).map((e) => e.name).filter((n) => owned.has(n));
    if (names.length === 0) continue;
    const ownWorker =
      !pool.isDefault && sd.spec.pools?.find((p) => p.name === pool.name)?.worker !== undefined;
    const where = ownWorker ? `pools[${pool.name}].worker.env` : 'worker.env';
    const policy =
      pool.isDefault || pool.ownFailure === undefined
        ? 'spec.failure'
        : `pools[${pool.name}].failure`;
    const key = `${where} ${policy} ${names.join(',')}`;
    const entry = found.get(key) ?? { where, names, policy, pools: [] };
    entry.pools.push(pool.isDefault ? 'the default pool' : `pool ${pool.name}`);
    found.set(key, entry);
  }
  return [...found.values()].map(({ where, names, policy, pools: reached }) => ({
    reason: REASON_FAILURE_ENV_OVERRIDDEN,
    message:
      `${where} sets ${names.join(', ')}, which the operator sets on the workers of ${reached.join(' and ')} ` +
      `from the failure policy (${policy}), so the value in ${where} is not used; ` +
      `remove ${names.length === 1 ? 'it' : 'them'} from ${where} and change ${policy} instead`,
  }));
}

function poolWhat(pool: WorkerPool): string {
  return pool.isDefault ? 'the default pool (queue.subQueuePrefix)' : `pool ${pool.name}`;
}

/**
 * What the list-map and CEL cannot say: two pools sharing a name (a spec that did not come
 * through an API server) or shard queues (their subQueuePrefix, given or defaulted), which
 * would make two pools' workers read one queue.
 */
function duplicatePoolProblems(pools: readonly WorkerPool[]): Problem[] {
  const problems: Problem[] = [];
  const byName = new Map<string, WorkerPool>();
  const byPrefix = new Map<string, WorkerPool>();
  for (const pool of pools) {
    if (byName.has(pool.name)) {
      problems.push(
        invalid(`spec.pools has two pools named ${pool.name}; give each pool its own name`),
      );
      continue;
    }
    byName.set(pool.name, pool);
    const other = byPrefix.get(pool.subQueuePrefix);
    if (other !== undefined) {
      problems.push(
        invalid(
          `${poolWhat(pool)} and ${poolWhat(other)} both name their shard queues ${pool.subQueuePrefix}-<i>, so their workers would read the same queues; give pool ${pool.name} a subQueuePrefix of its own`,
        ),
      );
      continue;
    }
    byPrefix.set(pool.subQueuePrefix, pool);
  }
  return problems;
}

// The volume types the restricted Pod Security Standard allows.
const RESTRICTED_VOLUME_TYPES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);

// The sysctls the baseline (so restricted) Pod Security Standard allows: namespaced, safe.
const SAFE_SYSCTLS = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
];
const SAFE_SYSCTL_SET = new Set(SAFE_SYSCTLS);

// The SELinux types the baseline (so restricted) standard allows; user and role must be unset.
const ALLOWED_SELINUX_TYPES = [
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
];
const ALLOWED_SELINUX_TYPE_SET = new Set(ALLOWED_SELINUX_TYPES);

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function asRecords(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value)
    ? value.map(asRecord).filter((v): v is Record<string, unknown> => v !== undefined)
    : [];
}

/** What of an seLinuxOptions the standard forbids, as "type spc_t", "user u"…; empty if none. */
function seLinuxViolations(options: unknown): string[] {
  const o = asRecord(options);
  if (o === undefined) return [];
  const bad: string[] = [];
  const type = o['type'];
  if (typeof type === 'string' && type !== '' && !ALLOWED_SELINUX_TYPE_SET.has(type))
    bad.push(`type ${type}`);
  for (const field of ['user', 'role'] as const) {
    const value = o[field];
    if (typeof value === 'string' && value !== '') bad.push(`${field} ${value}`);
  }
  return bad;
}

function seLinuxProblem(path: string, bad: string[]): Problem {
  return invalid(
    `${path}.seLinuxOptions sets ${bad.join(' and ')}, which the restricted Pod Security Standard forbids (type may only be ${ALLOWED_SELINUX_TYPES.join(', ')}, user and role must be unset); remove ${bad.length === 1 ? 'it' : 'them'}, keeping at most level and an allowed type`,
  );
}

/**
 * What of a worker podTemplate would make the pods fail the restricted Pod Security Standard
 * and cannot be dropped without changing what the pod does (security.ts says why these are
 * refused while privileged, root, seccomp/AppArmor Unconfined and hostProcess are dropped):
 * volume types, host ports, unsafe sysctls and SELinux labels. Left in, the pods would be
 * refused by admission and the ReplicaSets would only show FailedCreate.
 */
function podTemplateProblems(
  podTemplate: Record<string, unknown> | undefined,
  where: string,
): Problem[] {
  const spec = asRecord(podTemplate?.['spec']);
  if (spec === undefined) return [];
  const at = `${where}.podTemplate.spec`;
  const problems: Problem[] = [];
  for (const volume of asRecords(spec['volumes'])) {
    const types = Object.keys(volume).filter((key) => key !== 'name');
    const bad = types.filter((type) => !RESTRICTED_VOLUME_TYPES.has(type));
    if (bad.length > 0) {
      problems.push(
        invalid(
          `${where}.podTemplate volume ${String(volume['name'])} is of type ${bad.join(', ')}, which the restricted Pod Security Standard forbids; use a persistentVolumeClaim, emptyDir, configMap, secret or projected volume`,
        ),
      );
    }
  }
  const podContext = asRecord(spec['securityContext']);
  const sysctls = asRecords(podContext?.['sysctls'])
    .map((s) => s['name'])
    .filter((name): name is string => typeof name === 'string' && !SAFE_SYSCTL_SET.has(name));
  if (sysctls.length > 0) {
    problems.push(
      invalid(
        `${at}.securityContext.sysctls sets ${sysctls.join(', ')}, which the restricted Pod Security Standard forbids (only ${SAFE_SYSCTLS.join(', ')} are allowed); remove ${sysctls.length === 1 ? 'it' : 'them'}, or tune the nodes instead`,
      ),
    );
  }
  const podSeLinux = seLinuxViolations(podContext?.['seLinuxOptions']);
  if (podSeLinux.length > 0) problems.push(seLinuxProblem(`${at}.securityContext`, podSeLinux));
  // ephemeralContainers are dropped by the merge, so are not checked.
  for (const list of ['initContainers', 'containers'] as const) {
    for (const container of asRecords(spec[list])) {
      const path = `${at}.${list}[${String(container['name'])}]`;
      asRecords(container['ports']).forEach((port, i) => {
        const hostPort = port['hostPort'];
        if (hostPort !== undefined && hostPort !== null && hostPort !== 0) {
          problems.push(
            invalid(
              `${path}.ports[${i}].hostPort is ${String(hostPort)}, which the restricted Pod Security Standard forbids; remove hostPort and reach the container through its containerPort (the pod IP or a Service)`,
            ),
          );
        }
      });
      const bad = seLinuxViolations(asRecord(container['securityContext'])?.['seLinuxOptions']);
      if (bad.length > 0) problems.push(seLinuxProblem(`${path}.securityContext`, bad));
    }
  }
  return problems;
}
