/**
 * Keeps the arrows pointing one way (ARCHITECTURE.md):
 * cli -> operator | distributor | supervisor | worker -> queue | config | api -> nothing of ours,
 * and observability is usable from everywhere but uses none of the rooms.
 */
const room = (name) => `^src/${name}/`;

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'operator-and-distributor-meet-only-at-api-and-config',
      severity: 'error',
      from: { path: room('operator') },
      to: { path: [room('distributor'), room('supervisor'), room('worker')] },
    },
    {
      name: 'distributor-does-not-know-the-operator',
      severity: 'error',
      from: { path: [room('distributor'), room('supervisor'), room('worker')] },
      to: { path: room('operator') },
    },
    {
      name: 'foundations-import-no-higher-room',
      severity: 'error',
      from: { path: [room('api'), room('config'), room('queue'), room('observability')] },
      to: {
        path: [
          room('operator'),
          room('distributor'),
          room('supervisor'),
          room('worker'),
          '^src/cli',
        ],
      },
    },
    {
      name: 'api-stands-alone',
      severity: 'error',
      from: { path: room('api') },
      to: { path: [room('config'), room('queue')] },
    },
    {
      name: 'nothing-imports-the-cli',
      severity: 'error',
      from: { pathNot: '^src/cli' },
      to: { path: '^src/cli' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
