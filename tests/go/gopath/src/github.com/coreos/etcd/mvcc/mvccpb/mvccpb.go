// Package mvccpb is a shim, not etcd code: the tutorial's pre-3.4 import path for etcd's key-value
// message, aliased to Debian's go.etcd.io/etcd/mvcc/mvccpb (etcd 3.4.23) so that it is the very type
// the client in ../../clientv3 (also a shim) returns. See that package's comment.
package mvccpb

import (
	pb "go.etcd.io/etcd/mvcc/mvccpb"
)

type KeyValue = pb.KeyValue
