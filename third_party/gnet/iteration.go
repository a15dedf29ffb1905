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

package gnet

// ferry's patch (FERRY-PATCH.md): the interfaces of the end-of-iteration
// hook, in a file of their own so that gnet.go stays as released.

// IterationHandler is an optional interface an EventHandler may implement:
// OnIterationEnd runs on an event-loop after it has handled every event
// returned by one poll (the OnOpen, OnTraffic and OnClose callbacks of that
// poll, and the tasks queued with EventLoop.Execute that it woke up for),
// before it polls again. It lets a handler coalesce the writes of many
// connections into one per connection and iteration, without waking the
// event-loop up with EventLoop.Execute.
//
// el is the event-loop that ran the iteration; OnIterationEnd may call the
// methods of el and of its connections that are allowed in OnTraffic. It is
// not called by the main reactor (the event-loop that only accepts
// connections when ReusePort is off), nor after a poll that returned no
// events. For a handler that does not implement it, the cost is one nil
// check per poll. It is supported on Linux and the BSDs (every poller of
// those builds, with and without the poll_opt tag), not on Windows.
type IterationHandler interface {
	OnIterationEnd(el EventLoop)
}

// IterationWaker is implemented by the EventLoop of the pollers that
// support IterationHandler. WakeIteration, callable from any goroutine,
// makes the event-loop return from its poll and run OnIterationEnd, as
// EventLoop.Execute would run a task, but without one: it costs no
// allocation and at most one system call, and wake-ups coalesce (one
// until the event-loop has run its next iteration, shared with Execute's).
// A handler uses it to have work it queued for the event-loop itself
// (in its own lock-free queue, say) picked up by OnIterationEnd.
type IterationWaker interface {
	WakeIteration() error
}
