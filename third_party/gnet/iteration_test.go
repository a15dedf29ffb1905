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

//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package gnet

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

func goroutineID() int {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, _ := strconv.Atoi(string(b[:bytes.IndexByte(b, ' ')]))
	return id
}

// iterationEcho echoes what it reads, but only in OnIterationEnd: a reply
// reaches its client only if the hook runs after the OnTraffic callbacks of
// the poll that read the request (there is no later poll on an idle loop).
type iterationEcho struct {
	BuiltinEventEngine
	t   *testing.T
	eng Engine

	mu       sync.Mutex
	goids    map[EventLoop]int        // the goroutine each loop runs on
	pending  map[EventLoop][]*pending // output queued for the loop's next OnIterationEnd
	traffic  int
	ends     int
	taskConn Conn // sent "task\n": answered by a task, not by OnTraffic
	stray    int  // OnIterationEnd on a goroutine that is not its loop's
}

type pending struct {
	c   Conn
	out []byte
}

func (h *iterationEcho) OnBoot(eng Engine) Action {
	h.eng = eng
	return None
}

// onLoop checks that el's callbacks all run on one goroutine.
func (h *iterationEcho) onLoop(el EventLoop) {
	id := goroutineID()
	if prev, ok := h.goids[el]; !ok {
		h.goids[el] = id
	} else if prev != id {
		h.stray++
	}
}

func (h *iterationEcho) OnTraffic(c Conn) Action {
	buf, _ := c.Next(-1)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onLoop(c.EventLoop())
	h.traffic++
	if string(buf) == "task\n" {
		h.taskConn = c
		return None
	}
	h.pending[c.EventLoop()] = append(h.pending[c.EventLoop()], &pending{c, append([]byte(nil), buf...)})
	return None
}

func (h *iterationEcho) OnIterationEnd(el EventLoop) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onLoop(el)
	h.ends++
	for _, p := range h.pending[el] {
		if p.c.EventLoop() != el {
			h.t.Errorf("OnIterationEnd of one loop got another loop's connection")
		}
		_, _ = p.c.Write(p.out)
	}
	h.pending[el] = h.pending[el][:0]
}

func (h *iterationEcho) counts() (traffic, ends, stray int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.traffic, h.ends, h.stray
}

// OnIterationEnd runs on each loop's goroutine, with that loop, after the
// OnTraffic callbacks of the poll that read the requests and after the tasks
// the poll ran: the echoes and the task's write are only written there, and
// with no ticker nothing else would wake an idle loop to write them later.
// Idle loops do not run it.
func TestIterationHandler(t *testing.T) {
	if _, ok := any(&BuiltinEventEngine{}).(IterationHandler); ok {
		t.Fatal("BuiltinEventEngine must not implement IterationHandler: every handler embedding it would pay for the hook")
	}
	for _, reusePort := range []bool{false, true} {
		t.Run("ReusePort="+strconv.FormatBool(reusePort), func(t *testing.T) { testIterationHandler(t, reusePort) })
	}
}

func testIterationHandler(t *testing.T, reusePort bool) {
	sock := filepath.Join(t.TempDir(), "gnet.sock")
	h := &iterationEcho{t: t, goids: map[EventLoop]int{}, pending: map[EventLoop][]*pending{}}
	done := make(chan error, 1)
	go func() {
		done <- Run(h, "unix://"+sock, WithNumEventLoop(2), WithReusePort(reusePort))
	}()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(conns) < 20 {
		c, err := net.Dial("unix", sock)
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		conns = append(conns, c)
	}

	// 20 clients at once, each waiting for its echo before it sends again.
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for i, c := range conns {
		wg.Add(1)
		go func(i int, c net.Conn) {
			defer wg.Done()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := []byte("client " + strconv.Itoa(i) + "\n")
			got := make([]byte, len(msg))
			for j := 0; j < 50; j++ {
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, msg) {
					errs <- io.ErrUnexpectedEOF
					return
				}
			}
		}(i, c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// A write queued by a task (EventLoop.Execute from another goroutine)
	// is written by the hook of the iteration that ran the task.
	client := conns[0]
	if _, err := client.Write([]byte("task\n")); err != nil {
		t.Fatal(err)
	}
	var c Conn
	for c == nil {
		if time.Now().After(deadline) {
			t.Fatal("the request did not arrive")
		}
		time.Sleep(time.Millisecond)
		h.mu.Lock()
		c = h.taskConn
		h.mu.Unlock()
	}
	err := c.EventLoop().Execute(context.Background(), RunnableFunc(func(context.Context) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.pending[c.EventLoop()] = append(h.pending[c.EventLoop()], &pending{c, []byte("from a task\n")})
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("from a task\n"))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "from a task\n" {
		t.Fatalf("%q, %v", got, err)
	}

	traffic, ends, stray := h.counts()
	if stray != 0 {
		t.Fatalf("%d callbacks or hooks ran off their loop's goroutine", stray)
	}
	if traffic < 20*50 || ends == 0 {
		t.Fatalf("traffic %d, ends %d", traffic, ends)
	}
	// Idle loops do not run the hook.
	time.Sleep(50 * time.Millisecond)
	_, before, _ := h.counts()
	time.Sleep(100 * time.Millisecond)
	if _, after, _ := h.counts(); after != before {
		t.Fatalf("the hook ran %d times on idle loops", after-before)
	}
	t.Logf("%d OnTraffic, %d OnIterationEnd", traffic, ends)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.eng.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
