export { startOperator } from './operator.ts';
export type { OperatorOptions, RunningOperator } from './operator.ts';
export type { LoadRoute } from './reconciler/load-reader.ts';
