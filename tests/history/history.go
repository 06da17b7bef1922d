// Package history records what programs did to registers in the segment
// and checks it for linearizability with porcupine: every operation must
// appear to take effect at one instant between its call and its return, in
// one order that all nodes agree on, across kills, stops, leaves and
// partitions.
//
// A program writes one line when an operation starts and one when it
// returns, so that an operation its program was killed in is still known:
// it has a call and no return, and may have taken effect at any time after
// its call. Times are one machine's wall clock: histories from several
// machines need their clocks synchronised tighter than an operation lasts.
//
// It never touches a mount; the recorder is cmd tests/histprog.
package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

// Line is one line of a history file: the call of operation Seq of Client
// (Write, Reg, and for a write Value), or its return (Return set, and for
// a read the Value read).
type Line struct {
	Client int    `json:"c"`
	Seq    int    `json:"s"`
	Return bool   `json:"r,omitempty"`
	Write  bool   `json:"w,omitempty"`
	Reg    int    `json:"k"`
	Value  uint64 `json:"v"`
	Time   int64  `json:"t"` // unix nanoseconds
}

// Op is one operation: a write of Value to Reg, or a read of Reg that
// returned Value. Return is math.MaxInt64 for an operation that never
// returned.
type Op struct {
	Client, Reg  int
	Write        bool
	Value        uint64
	Call, Return int64
}

// Returned reports whether the operation's return was recorded.
func (o Op) Returned() bool { return o.Return != math.MaxInt64 }

// Read reads the history files and pairs calls with returns. A read that
// never returned is dropped: it changed nothing and showed nothing.
func Read(paths ...string) ([]Op, error) {
	type key struct{ client, seq int }
	calls := map[key]*Op{}
	var order []key
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		lines := bufio.NewScanner(f)
		for n := 1; lines.Scan(); n++ {
			var l Line
			if err := json.Unmarshal(lines.Bytes(), &l); err != nil {
				// The last line of a killed recorder may be cut short.
				continue
			}
			k := key{l.Client, l.Seq}
			switch op := calls[k]; {
			case !l.Return && op == nil:
				calls[k] = &Op{Client: l.Client, Reg: l.Reg, Write: l.Write, Value: l.Value, Call: l.Time, Return: math.MaxInt64}
				order = append(order, k)
			case l.Return && op != nil:
				op.Return = l.Time
				if !op.Write {
					op.Value = l.Value
				}
			default:
				f.Close()
				return nil, fmt.Errorf("%s:%d: %s of client %d's operation %d out of place", path, n, map[bool]string{true: "return", false: "call"}[l.Return], l.Client, l.Seq)
			}
		}
		err = lines.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	var ops []Op
	for _, k := range order {
		if op := calls[k]; op.Write || op.Returned() {
			ops = append(ops, *op)
		}
	}
	return ops, nil
}

// register is one register's operation as porcupine sees it.
type register struct {
	reg   int
	write bool
	value uint64
}

// registers is the model: independent registers, each starting at zero.
var registers = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[int][]porcupine.Operation{}
		var regs []int
		for _, op := range history {
			r := op.Input.(register).reg
			if by[r] == nil {
				regs = append(regs, r)
			}
			by[r] = append(by[r], op)
		}
		var out [][]porcupine.Operation
		for _, r := range regs {
			out = append(out, by[r])
		}
		return out
	},
	Init: func() any { return uint64(0) },
	Step: func(state, input, output any) (bool, any) {
		in := input.(register)
		if in.write {
			return true, in.value
		}
		return output.(uint64) == state.(uint64), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(register)
		if in.write {
			return fmt.Sprintf("r%d := %#x", in.reg, in.value)
		}
		return fmt.Sprintf("r%d -> %#x", in.reg, output.(uint64))
	},
}

// Check reports whether ops are linearizable, within timeout (Unknown if
// the search takes longer), and writes porcupine's visualization of a
// failure to failurePath if it is not empty.
func Check(ops []Op, timeout time.Duration, failurePath string) (porcupine.CheckResult, error) {
	history := make([]porcupine.Operation, 0, len(ops))
	clients := map[int]int{} // porcupine's visualization wants them 0, 1, ...
	for _, op := range ops {
		if _, ok := clients[op.Client]; !ok {
			clients[op.Client] = len(clients)
		}
		history = append(history, porcupine.Operation{
			ClientId: clients[op.Client], Call: op.Call, Return: op.Return,
			Input: register{reg: op.Reg, write: op.Write, value: op.Value}, Output: op.Value,
		})
	}
	result, info := porcupine.CheckOperationsVerbose(registers, history, timeout)
	if result == porcupine.Illegal && failurePath != "" {
		if err := porcupine.VisualizePath(registers, info, failurePath); err != nil {
			return result, err
		}
	}
	return result, nil
}
