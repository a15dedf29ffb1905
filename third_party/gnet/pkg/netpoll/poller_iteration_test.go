// Copyright (c) 2026 The Gnet Authors. All rights reserved.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//go:build linux

package netpoll

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"github.com/panjf2000/gnet/v2/pkg/queue"
)

func goid() int {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, _ := strconv.Atoi(string(b[:bytes.IndexByte(b, ' ')]))
	return id
}

// The iteration hook runs once per poll that returned events, on the polling
// goroutine, after the callbacks of all of that poll's events and after the
// tasks the poll was woken up for; a poll that finds nothing does not run it.
func TestPollerIterationHook(t *testing.T) {
	p, err := OpenPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close() //nolint:errcheck

	var (
		log     []string
		goids   = map[int]bool{}
		hooked  = make(chan struct{}, 16)
		stopped = make(chan error, 1)
	)
	onEvent := func(fd int, _ IOEvent, _ IOFlags) error {
		goids[goid()] = true
		var b [8]byte
		_, _ = unix.Read(fd, b[:]) // drained: level-triggered, no more events
		log = append(log, "event")
		return nil
	}
	// Three readable pipes before Polling starts: the first epoll_wait
	// returns the three of them.
	var fds [3][2]int
	for i := range fds {
		if err := unix.Pipe2(fds[i][:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[i][0]) //nolint:errcheck
		defer unix.Close(fds[i][1]) //nolint:errcheck
		if _, err := unix.Write(fds[i][1], []byte{'x'}); err != nil {
			t.Fatal(err)
		}
		if err := p.AddRead(&PollAttachment{FD: fds[i][0], Callback: onEvent}, false); err != nil {
			t.Fatal(err)
		}
	}

	p.SetIterationHook(func() {
		goids[goid()] = true
		log = append(log, "hook")
		hooked <- struct{}{}
	})
	go func() {
		stopped <- polling(p, onEvent)
	}()
	wait := func() {
		t.Helper()
		select {
		case <-hooked:
		case <-time.After(5 * time.Second):
			t.Fatal("the iteration hook did not run")
		}
	}
	wait() // the three pipes
	select {
	case <-hooked:
		t.Fatal("the hook ran again without events")
	case <-time.After(50 * time.Millisecond):
	}

	// A task wakes the poller: the task, then the hook.
	if err := p.Trigger(queue.LowPriority, func(any) error {
		goids[goid()] = true
		log = append(log, "task")
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	wait()

	// A task that makes a pipe readable and queues another task: the second
	// task runs in the same batch (the queue is drained until empty, without
	// another wake-up), then the hook; the pipe's event comes with the next
	// poll, followed by its own hook.
	if err := p.Trigger(queue.LowPriority, func(any) error {
		log = append(log, "task")
		if _, err := unix.Write(fds[0][1], []byte{'x'}); err != nil {
			return err
		}
		return p.Trigger(queue.LowPriority, func(any) error {
			log = append(log, "task")
			return nil
		}, nil)
	}, nil); err != nil {
		t.Fatal(err)
	}
	wait()
	wait()

	if err := p.Trigger(queue.LowPriority, func(any) error { return errorx.ErrEngineShutdown }, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != errorx.ErrEngineShutdown {
		t.Fatalf("Polling returned %v", err)
	}
	want := []string{"event", "event", "event", "hook", "task", "hook", "task", "task", "hook", "event", "hook"}
	if len(log) != len(want) {
		t.Fatalf("got %v, want %v", log, want)
	}
	for i := range want {
		if log[i] != want[i] {
			t.Fatalf("got %v, want %v", log, want)
		}
	}
	if len(goids) != 1 {
		t.Fatalf("callbacks, tasks and the hook ran on %d goroutines", len(goids))
	}
}

// Wake makes the poller run its iteration hook with no task and no event of
// a connection, from any goroutine, and costs no allocation; wake-ups before
// the poller runs coalesce into one iteration.
func TestPollerWake(t *testing.T) {
	p, err := OpenPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close() //nolint:errcheck

	hooked := make(chan struct{}, 64)
	stopped := make(chan error, 1)
	p.SetIterationHook(func() { hooked <- struct{}{} })
	go func() {
		stopped <- polling(p, func(int, IOEvent, IOFlags) error { return nil })
	}()
	wait := func() {
		t.Helper()
		select {
		case <-hooked:
		case <-time.After(5 * time.Second):
			t.Fatal("the iteration hook did not run after Wake")
		}
	}
	for i := 0; i < 3; i++ {
		if err := p.Wake(); err != nil {
			t.Fatal(err)
		}
		wait()
	}
	// Coalesced: many wake-ups while the poller has not run yet make one
	// write (the later ones find wakeupCall set) and so at most one
	// iteration for them.
	var woke sync.WaitGroup
	woke.Add(1)
	if err := p.Trigger(queue.LowPriority, func(any) error {
		woke.Wait() // hold the poller inside its iteration
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := p.Wake(); err != nil {
			t.Fatal(err)
		}
	})
	woke.Done()
	if allocs != 0 {
		t.Fatalf("Wake allocates %v times", allocs)
	}
	wait() // the task's iteration
	select {
	case <-hooked: // at most one more, for the wake-ups made while the task ran
	case <-time.After(50 * time.Millisecond):
	}
	select {
	case <-hooked:
		t.Fatal("wake-ups made before the poller ran were not coalesced")
	case <-time.After(50 * time.Millisecond):
	}

	if err := p.Trigger(queue.LowPriority, func(any) error { return errorx.ErrEngineShutdown }, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != errorx.ErrEngineShutdown {
		t.Fatalf("Polling returned %v", err)
	}
}
