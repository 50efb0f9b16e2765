import {
  CRD_NAME,
  GROUP,
  KIND,
  LIST_KIND,
  PLURAL,
  SHORT_NAMES,
  SINGULAR,
  VERSION,
} from './v1alpha1/constants.ts';
import { ShardDistributorSpecSchema, ShardDistributorStatusSchema } from './v1alpha1/schema.ts';

type JsonSchema = { [key: string]: unknown };

/**
 * Turns a TypeBox schema into the plain structural OpenAPI v3 a CRD holds: no TypeBox
 * symbols, and a field with a default is not `required` (the API server defaults first, but
 * a required-with-default field reads as a contradiction to people and tools).
 */
export function toStructural(schema: unknown): JsonSchema {
  const plain = JSON.parse(JSON.stringify(schema)) as JsonSchema;
  return stripRequiredDefaults(plain);
}

function stripRequiredDefaults(node: JsonSchema): JsonSchema {
  const properties = node['properties'] as Record<string, JsonSchema> | undefined;
  if (properties) {
    for (const child of Object.values(properties)) stripRequiredDefaults(child);
    const required = node['required'] as string[] | undefined;
    if (required) {
      const stillRequired = required.filter((key) => properties[key]?.['default'] === undefined);
      if (stillRequired.length > 0) node['required'] = stillRequired;
      else delete node['required'];
    }
  }
  for (const key of ['items', 'additionalProperties']) {
    const child = node[key];
    if (child && typeof child === 'object') stripRequiredDefaults(child as JsonSchema);
  }
  return node;
}

/** The CustomResourceDefinition of ShardDistributor, as crds/ and the chart hold it. */
export function shardDistributorCrd() {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: LIST_KIND,
        plural: PLURAL,
        singular: SINGULAR,
        shortNames: SHORT_NAMES,
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: {
              specReplicasPath: '.spec.minWorkers',
              statusReplicasPath: '.status.workers',
              labelSelectorPath: '.status.selector',
            },
          },
          additionalPrinterColumns: [
            {
              name: 'Min',
              type: 'integer',
              jsonPath: '.spec.minWorkers',
              description: 'Minimum workers (shards)',
            },
            {
              name: 'Max',
              type: 'integer',
              jsonPath: '.spec.maxWorkers',
              priority: 1,
              description: 'Maximum workers when autoscaling',
            },
            {
              name: 'Ready',
              type: 'integer',
              jsonPath: '.status.readyWorkers',
              description: 'Workers ready',
            },
            {
              name: 'Backlog',
              type: 'integer',
              jsonPath: '.status.backlog',
              description: 'Messages waiting in the shard queues',
            },
            {
              name: 'Strategy',
              type: 'string',
              jsonPath: '.spec.strategy',
              description: 'Balancing strategy',
            },
            {
              name: 'Status',
              type: 'string',
              jsonPath: ".status.conditions[?(@.type=='Ready')].reason",
              priority: 1,
            },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'ShardDistributor fans one queue out to worker shards and keeps one worker Deployment per shard.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: toStructural(ShardDistributorSpecSchema),
                status: toStructural(ShardDistributorStatusSchema),
              },
            },
          },
        },
      ],
    },
  };
}
