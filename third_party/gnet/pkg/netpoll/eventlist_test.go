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

package netpoll

import "testing"

// Polls that fill the event list one time and not the next (a few dozen
// busy connections) expand and shrink it on every other poll: that reuses
// the list's array instead of allocating a new one each time.
func TestEventListResizeDoesNotAllocate(t *testing.T) {
	el := newEventList(InitPollEventsCap)
	check := func() {
		t.Helper()
		if len(el.events) != el.size {
			t.Fatalf("%d events for a list of %d", len(el.events), el.size)
		}
	}
	for el.size > MinPollEventsCap {
		el.shrink()
		check()
	}
	if a := testing.AllocsPerRun(100, func() { el.expand(); el.shrink() }); a != 0 {
		t.Fatalf("%v allocations per expand and shrink", a)
	}
	check()
	for el.size < MaxPollEventsCap {
		el.expand()
		check()
	}
	el.expand() // at the cap: unchanged
	check()
	if el.size != MaxPollEventsCap {
		t.Fatalf("size %d past MaxPollEventsCap", el.size)
	}
}
