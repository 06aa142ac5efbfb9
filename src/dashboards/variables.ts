// Template variables shared by the dashboards, and the label matchers that go with them.
// `node` filters on the `instance` target label: outside Kubernetes that is the daemon's
// host:port, and the chart's ServiceMonitor relabels it to the node name (as kube-prometheus
// does for node-exporter), so the same queries work with and without the chart.
import type { Variable } from './builder.ts';
import { RECORDED } from './recordings.ts';

export const CLUSTER = 'cluster=~"$cluster"';
export const NODE = 'instance=~"$node"';
export const NAMESPACE = 'k8s_namespace_name=~"$namespace"';
export const MODEL = 'ml_model=~"$model"';
export const JOB = 'ml_job=~"$job"';

/** `metric{m1,m2}`: a selector from label matchers. */
export function sel(metric: string, ...matchers: string[]): string {
  return `${metric}{${matchers.join(', ')}}`;
}

export const datasourceVar: Variable = { name: 'datasource', label: 'Data source', multi: false };
/** Where exemplar links open a request's trace: a Tempo data source (set the variable's type to `jaeger` for Jaeger). */
export const tracesVar: Variable = { name: 'traces', label: 'Traces', datasourceType: 'tempo', multi: false };
export const clusterVar: Variable = { name: 'cluster', label: 'Cluster', query: 'label_values(target_info, cluster)', multi: true };
export const nodeVar: Variable = {
  name: 'node',
  label: 'Node',
  query: `label_values(${sel('target_info', CLUSTER)}, instance)`,
  multi: true,
  includeAll: false,
};
export const namespaceVar: Variable = {
  name: 'namespace',
  label: 'Namespace',
  query: `label_values(${sel(RECORDED.workloadEnergy, CLUSTER)}, k8s_namespace_name)`,
  multi: true,
};
export const modelVar: Variable = {
  name: 'model',
  label: 'Model',
  query: `label_values(${sel(RECORDED.modelRequests, CLUSTER)}, ml_model)`,
  multi: true,
};
export const jobVar: Variable = {
  name: 'job',
  label: 'ML job',
  query: `label_values(${sel(RECORDED.workloadEnergy, CLUSTER, NAMESPACE)}, ml_job)`,
  multi: true,
};
