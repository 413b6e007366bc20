package operator

import (
	"errors"
	"floe/container/network"
	"fmt"
	"runtime/debug"
)

// UserPanic is a panic raised by a user function, annotated with where it happened.
type UserPanic struct {
	Operator string
	Subtask  int
	Value    any
	Stack    []byte
}

func (p *UserPanic) Error() string {
	return fmt.Sprintf("operator %q (subtask %d) panicked: %v", p.Operator, p.Subtask, p.Value)
}

// Recovered turns a value from recover() in a task's loop into an error: a
// panic names the operator run says was running, else the task (run may be
// nil).
func Recovered(p any, task string, run *Running) error {
	switch v := p.(type) {
	case *UserPanic:
		return v
	case network.Abort:
		return v.Err
	}
	if run != nil && run.op != nil {
		return &UserPanic{Operator: run.op.Name, Subtask: run.op.Subtask, Value: p, Stack: debug.Stack()}
	}
	return &UserPanic{Operator: task, Subtask: -1, Value: p, Stack: debug.Stack()}
}

// Running is the operator of a task whose user function runs now, for the
// report of a panic: an operator marks each call of a user function with
// Enter and Leave, a load and two stores, where a deferred recover per call
// cost about 5 ns (as much as the whole work of a chained map). The task's
// recover reads it (Recovered): a panic leaves it naming the innermost
// operator that was running. It belongs to the task's goroutine.
type Running struct{ op *Ident }

// Ident names one subtask of an operator.
type Ident struct {
	Name    string
	Subtask int
}

// Enter marks id running and returns what ran before, for Leave.
func (r *Running) Enter(id *Ident) (prev *Ident) {
	prev, r.op = r.op, id
	return prev
}

// Leave marks prev running again after a call returned.
func (r *Running) Leave(prev *Ident) { r.op = prev }

// Runner returns the task's Running, or a new one for an operator built
// outside a task (a test's).
func (i *TaskInfo) Runner() *Running {
	if i.Running == nil {
		return new(Running)
	}
	return i.Running
}

// ErrCanceled is wrapped by errors of tasks that stopped because they were cancelled.
var ErrCanceled = errors.New("task canceled")
