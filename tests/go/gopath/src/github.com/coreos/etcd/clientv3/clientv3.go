// Package clientv3 is a shim, not etcd code: the tutorial imports the client by its pre-3.4 path
// github.com/coreos/etcd/clientv3, but the only etcd client source on this machine is Debian's
// golang-etcd-server-dev (etcd 3.4.23), whose packages import each other as go.etcd.io/etcd/... .
// Importing the coreos path through Debian's github.com/coreos/etcd -> go.etcd.io/etcd symlink would
// compile a second copy of clientv3 whose Get returns go.etcd.io/etcd/mvcc/mvccpb.KeyValue, which the
// tutorial's github.com/coreos/etcd/mvcc/mvccpb.KeyValue is not. So this package (found first on
// GOPATH) re-exports, as aliases, exactly the identifiers the tutorial uses from go.etcd.io/etcd 3.4.
package clientv3

import (
	v3 "go.etcd.io/etcd/clientv3"
)

type (
	Client = v3.Client
	Config = v3.Config
)

var (
	New        = v3.New
	Compare    = v3.Compare
	Value      = v3.Value
	OpPut      = v3.OpPut
	WithLease  = v3.WithLease
	WithRange  = v3.WithRange
	WithPrefix = v3.WithPrefix
)
