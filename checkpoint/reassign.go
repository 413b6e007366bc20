package checkpoint

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"floe/internal/keygroup"
)

// OperatorSpec is an operator of the job being started from a checkpoint or savepoint.
type OperatorSpec struct {
	UID            string
	Parallelism    int
	MaxParallelism int
}

// CheckRestore checks that m can be restored into a job whose operators are
// ops: every operator of m that has state must match the uid of one of ops
// (unless allowNonRestored, which drops that state), and operators with
// keyed state must keep their max parallelism. Stateless operators of m
// need no match. All problems are reported together.
func CheckRestore(m *Metadata, ops []OperatorSpec, allowNonRestored bool) error {
	specs := make(map[string]OperatorSpec, len(ops))
	var errs []error
	for _, o := range ops {
		specs[o.UID] = o
		if o.MaxParallelism < 1 || o.Parallelism < 1 || o.Parallelism > o.MaxParallelism {
			errs = append(errs, fmt.Errorf("%w: operator %q: parallelism %d, max parallelism %d", ErrParallelism, o.UID, o.Parallelism, o.MaxParallelism))
		}
	}
	var unmatched []string
	for i := range m.Operators {
		op := &m.Operators[i]
		if !op.HasState() {
			continue
		}
		spec, ok := specs[op.UID]
		if !ok {
			if !allowNonRestored {
				unmatched = append(unmatched, fmt.Sprintf("%q", op.UID))
			}
			continue
		}
		if op.hasKeyedState() && spec.MaxParallelism != op.MaxParallelism {
			errs = append(errs, fmt.Errorf("%w: operator %q has keyed state for max parallelism %d, the job has %d (set pipeline.max-parallelism to %d)",
				ErrMaxParallelismChanged, op.UID, op.MaxParallelism, spec.MaxParallelism, op.MaxParallelism))
		}
	}
	if len(unmatched) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s %d has state for operator uid %s, which the job does not have (set uids that match, or restore with --allow-non-restored-state to drop it)",
			ErrUnmatchedState, m.Kind, m.ID, strings.Join(unmatched, ", ")))
	}
	return errors.Join(errs...)
}

func (op *OperatorState) hasKeyedState() bool {
	for _, s := range op.Subtasks {
		if len(s.Keyed) > 0 || len(s.Incremental) > 0 {
			return true
		}
	}
	return false
}

// Reassign returns what each of the p subtasks of operator op restores,
// indexed by new subtask:
//   - keyed state: subtask i gets the slices of the old files that hold its
//     key groups, keygroup.Range(maxParallelism, p, i); incremental handles
//     (store files) that overlap them go whole, the restore keeps its own;
//   - split list state: with p unchanged each subtask gets its own entries;
//     otherwise all entries, in old subtask order, are dealt round-robin;
//   - union list state: every subtask gets all entries.
//
// Every new subtask gets every list state name of op, with no entries when
// none fall to it, so a source can tell "restored with nothing" from
// "started fresh". Paths are copied as they are in m (see Metadata.Resolved).
func Reassign(op *OperatorState, p int) ([]SubtaskState, error) {
	if p < 1 || p > op.MaxParallelism {
		return nil, fmt.Errorf("%w: operator %q restored at parallelism %d, want 1..%d (its max parallelism)", ErrParallelism, op.UID, p, op.MaxParallelism)
	}
	for _, s := range op.Subtasks {
		if s.Subtask < 0 || s.Subtask >= op.Parallelism {
			return nil, fmt.Errorf("%w: operator %q: subtask %d of %d", ErrInvalidMetadata, op.UID, s.Subtask, op.Parallelism)
		}
	}
	out := make([]SubtaskState, p)
	for _, s := range op.Subtasks {
		if s.Channels == nil {
			continue
		}
		if p != op.Parallelism {
			return nil, fmt.Errorf("%w: operator %q has channel state of an unaligned checkpoint at parallelism %d; floe restores it at the same parallelism only (take a savepoint, which is aligned, to rescale)", ErrParallelism, op.UID, op.Parallelism)
		}
		h := *s.Channels
		out[s.Subtask].Channels = &h
	}
	for i := range out {
		out[i].Subtask = i
		lo, hi := keygroup.Range(op.MaxParallelism, p, i)
		for _, s := range op.Subtasks {
			for _, h := range s.Keyed {
				if sl, ok := h.Slice(lo, hi); ok {
					out[i].Keyed = append(out[i].Keyed, sl)
				}
			}
			for _, h := range s.Incremental { // whole: the restore keeps its own key groups
				if h.Start < hi && lo < h.End {
					h.Tables = slices.Clone(h.Tables)
					h.Files = slices.Clone(h.Files)
					out[i].Incremental = append(out[i].Incremental, h)
				}
			}
		}
	}

	// List states by name, in order of first appearance.
	type list struct {
		dist    Distribution
		entries [][]ListEntry // by old subtask
	}
	var names []string
	lists := map[string]*list{}
	for _, s := range op.Subtasks {
		for _, l := range s.Lists {
			ls, ok := lists[l.Name]
			if !ok {
				ls = &list{dist: l.Distribution, entries: make([][]ListEntry, op.Parallelism)}
				lists[l.Name] = ls
				names = append(names, l.Name)
			}
			ls.entries[s.Subtask] = append(ls.entries[s.Subtask], l.Entries...)
		}
	}
	for _, name := range names {
		ls := lists[name]
		per := make([][]ListEntry, p)
		switch {
		case ls.dist == Union:
			var all []ListEntry
			for _, es := range ls.entries {
				all = append(all, es...)
			}
			for i := range per {
				per[i] = all
			}
		case p == op.Parallelism:
			copy(per, ls.entries)
		default:
			k := 0
			for _, es := range ls.entries {
				for _, e := range es {
					per[k%p] = append(per[k%p], e)
					k++
				}
			}
		}
		for i := range out {
			out[i].Lists = append(out[i].Lists, ListState{Name: name, Distribution: ls.dist, Entries: append([]ListEntry{}, per[i]...)})
		}
	}
	return out, nil
}

// RestorePlan is what each operator's subtasks restore: by uid, the state of
// each new subtask (index = subtask), with paths resolved. Operators of the
// new job that the snapshot does not have start with empty state and are absent.
type RestorePlan map[string][]SubtaskState

// PlanRestore checks m against the new job's operators (CheckRestore) and
// reassigns the state of each matched operator to its new parallelism. dir
// is the directory m's _metadata was read from.
func PlanRestore(m *Metadata, dir string, ops []OperatorSpec, allowNonRestored bool) (RestorePlan, error) {
	if err := CheckRestore(m, ops, allowNonRestored); err != nil {
		return nil, err
	}
	plan := RestorePlan{}
	for _, o := range ops {
		op, ok := m.Operator(o.UID)
		if !ok || !op.HasState() {
			continue
		}
		subs, err := Reassign(op, o.Parallelism)
		if err != nil {
			return nil, err
		}
		for i := range subs {
			resolveSubtask(&subs[i], dir)
		}
		plan[o.UID] = subs
	}
	return plan, nil
}
