//go:build (amd64 || arm64) && !race

package worker

import (
	"sync/atomic"
	"unsafe"
)

// The writer's side of Counter and Gauge on amd64 and arm64: an increment
// is a plain load, add and store of the aligned 64-bit word (no LOCK, no
// XCHG: on amd64 the compiler emits INCQ/ADDQ on memory without a LOCK
// prefix, or MOVQ/ADDQ/MOVQ; on arm64 LDR/ADD/STR). sync/atomic has no
// release-only or relaxed store, and its Store is a sequentially
// consistent XCHG on amd64, some 20 cycles on the hot path for ordering no
// reader needs: a counter orders nothing else.
//
// Why a reader's atomic Load, concurrent with this plain store, is safe:
//
//   - Only one goroutine ever writes a given counter (its event loop), so
//     the load-add-store needs no atomicity against other writers: there
//     are none, and no increment is lost.
//   - A reader sees a whole value. The word is 8 bytes and 8-byte aligned
//     (atomic.Uint64's alignment), and on a 64-bit platform that is a
//     machine word. The Go memory model ("Implementation Restrictions for
//     Programs Containing Data Races") requires that a read of a location
//     no larger than a machine word observe a value some write actually
//     stored there, and forbids compilers to invent writes: no torn or
//     made-up value, as a language guarantee, not only a hardware one
//     (both architectures also store an aligned 8-byte word in one
//     single-copy-atomic access).
//   - A reader sees it never decrease. The writer's stores to the word are
//     in program order (the compiler may drop an intermediate one, never
//     reorder two stores to one location), each larger than the last, and
//     amd64 (TSO) and arm64 (other-multi-copy atomic) keep every location
//     coherent: two loads of one word in program order never see the older
//     store after the newer. A reader's atomic Loads are neither reordered
//     nor merged by the compiler.
//   - A reader sees a recent value: the store drains from the store buffer
//     within nanoseconds, and every Load really reads memory.
//
// The formal data race (a plain write concurrent with an atomic read) is
// what -race would report, so race builds compile counter_atomic.go
// instead; the memory model's guarantee above is what makes it benign.
// Anything outside these methods must not write the word.

// counterWriter and gaugeWriter are empty here: the shared word is the
// writer's only copy.
type (
	counterWriter struct{}
	gaugeWriter   struct{}
)

// The word the writer stores with plain instructions is the whole of the
// atomic type (sync/atomic's Uint64 and Int64 are a uint64 or int64 after
// zero-size fields): fail to compile if that ever changes.
var (
	_ [unsafe.Sizeof(atomic.Uint64{}) - 8]byte
	_ [8 - unsafe.Sizeof(atomic.Uint64{})]byte
	_ [unsafe.Sizeof(atomic.Int64{}) - 8]byte
	_ [8 - unsafe.Sizeof(atomic.Int64{})]byte
	_ [unsafe.Sizeof(Counter{}) - 8]byte
	_ [8 - unsafe.Sizeof(Counter{})]byte
)

// word is the counter's value as plain memory, for its writer.
func (c *Counter) word() *uint64 { return (*uint64)(unsafe.Pointer(&c.v)) }

// Inc adds one. Only the owning loop may call it.
func (c *Counter) Inc() { *c.word()++ }

// Add adds n. Only the owning loop may call it.
func (c *Counter) Add(n uint64) { *c.word() += n }

// Add adds n (may be negative). Only the owning loop may call it.
func (g *Gauge) Add(n int64) { *(*int64)(unsafe.Pointer(&g.v)) += n }

// Set stores n. Only the owning loop may call it.
func (g *Gauge) Set(n int64) { *(*int64)(unsafe.Pointer(&g.v)) = n }
