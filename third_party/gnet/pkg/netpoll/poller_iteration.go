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

// SetIterationHook makes Polling call fn on its goroutine once after each
// poll that returned events: after the callbacks of every event of that poll
// and the tasks it woke up for, before it polls again. A poll that times out
// or is interrupted (no events) does not call fn. fn nil removes the hook.
//
// It must be called before Polling starts: the field is read without
// synchronization by the polling goroutine.
func (p *Poller) SetIterationHook(fn func()) {
	p.iterationHook = fn
}
