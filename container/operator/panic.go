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

// Guard turns a panic into a *UserPanic naming the  Use it as
// `defer Guard(name, subtask)` around the call of a user function;
// panics that are already a *UserPanic or an Abort pass through unchanged.
func Guard(operator string, subtask int) {
	if p := recover(); p != nil {
		panic(Annotate(p, operator, subtask))
	}
}

// Annotate wraps a recovered panic value for Guard.
func Annotate(p any, operator string, subtask int) any {
	switch p.(type) {
	case *UserPanic, network.Abort:
		return p
	}
	return &UserPanic{Operator: operator, Subtask: subtask, Value: p, Stack: debug.Stack()}
}

// Recovered turns a value from recover() in a task's loop into an error.
func Recovered(p any, task string) error {
	switch v := p.(type) {
	case *UserPanic:
		return v
	case network.Abort:
		return v.Err
	}
	return &UserPanic{Operator: task, Subtask: -1, Value: p, Stack: debug.Stack()}
}

// ErrCanceled is wrapped by errors of tasks that stopped because they were cancelled.
var ErrCanceled = errors.New("task canceled")
