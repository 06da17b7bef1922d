package report

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ownerLetters name nodes in the owner map; node i is ownerLetters[i].
const ownerLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Map geometry: at most mapCols × mapRows cells, each a range of pages.
const (
	mapCols = 64
	mapRows = 16
)

// DrawMap draws o as a grid of cells, each a range of pages: the owner's
// letter when one node owns the whole cell, "+" when several do, "?" when
// some of it is unclaimed or lost. With color, cells are coloured by owner
// (ANSI), for a terminal.
func DrawMap(w io.Writer, o Owners, color bool) error {
	perCell := max(1, (o.Pages+mapCols*mapRows-1)/(mapCols*mapRows))
	cells := (o.Pages + perCell - 1) / perCell
	const unseen = -100 // no run has covered the cell yet
	cell := make([]int, cells)
	for i := range cell {
		cell[i] = unseen
	}
	mixed := make([]bool, cells)
	members := map[int]string{}
	for _, r := range o.Runs {
		if r.Node >= 0 {
			members[r.Node] = r.Address
		}
		for c := r.First / perCell; c <= r.Last/perCell && c < cells; c++ {
			switch {
			case cell[c] == unseen:
				cell[c] = r.Node
			case cell[c] != r.Node:
				mixed[c] = true
			}
		}
	}
	if _, err := fmt.Fprintf(w, "%d pages, %d per cell\n", o.Pages, perCell); err != nil {
		return err
	}
	for i, n := range cell {
		ch, colored := byte('?'), false
		switch {
		case mixed[i]:
			ch = '+'
		case n >= 0 && n < len(ownerLetters):
			ch, colored = ownerLetters[n], color
		}
		if colored {
			fmt.Fprintf(w, "\x1b[%dm%c\x1b[0m", 41+n%6, ch)
		} else {
			fmt.Fprintf(w, "%c", ch)
		}
		if (i+1)%mapCols == 0 || i == cells-1 {
			fmt.Fprintln(w)
		}
	}
	for n := range len(ownerLetters) {
		if addr, ok := members[n]; ok {
			fmt.Fprintf(w, "%c = node %d %s\n", ownerLetters[n], n, addr)
		}
	}
	if _, err := fmt.Fprintln(w, "+ = several owners in the cell, ? = unclaimed or lost (moving, unanswered, or gone with its node)"); err != nil {
		return err
	}
	return drawReadCopies(w, o, perCell, cells)
}

// drawReadCopies draws, if any page has read copies, a second grid of the
// same cells: how many nodes hold read copies of some page of the cell
// (their most), "." for none.
func drawReadCopies(w io.Writer, o Owners, perCell, cells int) error {
	most := make([]int, cells)
	any := false
	for _, r := range o.Runs {
		n := len(r.Readers)
		if r.ReadCopy {
			n = 1
		}
		for c := r.First / perCell; c <= r.Last/perCell && c < cells; c++ {
			most[c] = max(most[c], n)
			any = any || n > 0
		}
	}
	if !any {
		return nil
	}
	fmt.Fprintln(w, "read copies (segment.ro), nodes holding one:")
	for i, n := range most {
		ch := byte('.')
		switch {
		case n > 9:
			ch = '+'
		case n > 0:
			ch = byte('0' + n)
		}
		fmt.Fprintf(w, "%c", ch)
		if (i+1)%mapCols == 0 || i == cells-1 {
			fmt.Fprintln(w)
		}
	}
	return nil
}

// IsTerminal reports whether w is a terminal, for colour.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
