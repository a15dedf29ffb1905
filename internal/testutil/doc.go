// Package testutil holds helpers for ferry's end-to-end tests: free loopback
// ports, and real redis-server, memcached, nutcracker (twemproxy) and etcd
// processes and Redis Clusters started on 127.0.0.1, plus a raw RESP /
// text-protocol connection for tests that must put exact bytes on the wire.
//
// Every process is started in its own process group and killed (the whole
// group, with SIGKILL) from a t.Cleanup, so nothing outlives the test, even
// when it fails or panics. On Linux the children also get Pdeathsig=SIGKILL,
// so they die with the test binary even if cleanups never run (go test
// -timeout, os.Exit, a signal). Logs and data directories live under
// t.TempDir(); when a test has failed, the last lines of each process log are
// printed with t.Log during cleanup.
//
// Missing binaries skip the test (t.Skip). Set FERRY_TEST_REQUIRE_BINARIES=1
// to make that a failure instead (for CI), and FERRY_TEST_BIN_<NAME> (for
// example FERRY_TEST_BIN_REDIS_SERVER, FERRY_TEST_BIN_NUTCRACKER) to point at
// a binary that is not on PATH.
package testutil
