/** The etcd API level this server implements: clients gate features on it. */
export const ETCD_API_VERSION = "3.5.0";
/** The cluster version members announce and report (etcd's "enabled capabilities for version"). */
export const ETCD_CLUSTER_VERSION = "3.5.0";
