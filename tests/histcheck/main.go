// Command histcheck checks histories that tests/histprog recorded for
// linearizability (see tests/history), for scripts/soak.sh.
//
//	histcheck [-timeout D] [-html FILE] HISTORY...
//
// It prints the operations and registers checked and the verdict, and
// exits 1 unless the histories are linearizable (with -html, porcupine's
// picture of a violation goes to FILE), 2 on bad input.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/dsmfs/dsmfs/tests/history"
)

func main() {
	timeout := flag.Duration("timeout", 5*time.Minute, "give up (verdict unknown, exit 1) after this long")
	html := flag.String("html", "", "write a violation's visualization here")
	flag.Parse()
	ops, err := history.Read(flag.Args()...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "histcheck:", err)
		os.Exit(2)
	}
	regs, pending := map[int]bool{}, 0
	for _, op := range ops {
		regs[op.Reg] = true
		if !op.Returned() {
			pending++
		}
	}
	result, err := history.Check(ops, *timeout, *html)
	if err != nil {
		fmt.Fprintln(os.Stderr, "histcheck:", err)
		os.Exit(2)
	}
	verdict := map[porcupine.CheckResult]string{porcupine.Ok: "linearizable", porcupine.Illegal: "NOT linearizable", porcupine.Unknown: "unknown (timed out)"}[result]
	fmt.Printf("history: %d operations (%d writes never returned) on %d registers: %s\n", len(ops), pending, len(regs), verdict)
	if result != porcupine.Ok {
		os.Exit(1)
	}
}
