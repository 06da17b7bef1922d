// Package bench is `dsmfs bench`: it starts its own local dsmfs clusters as
// child processes on loopback, measures migration, owned access and
// throughput against floors measured on the same machine in the same run, and
// reports them as a table or one JSON object.
//
// It owns three entry points that main.go wires to commands: Run (`dsmfs
// bench`, the orchestrator), Worker (`dsmfs bench-worker`, the programs that
// map segments and time their own accesses) and FloorFS (`dsmfs
// bench-floorfs`, a trivial go-fuse file for the FUSE and invalidation
// floors). Run never maps a segment itself: a fault served by a daemon in the
// same process would deadlock, and timing belongs to the process that faults.
//
// It must never report a number it did not measure in this run: a field that
// cannot be measured is left out of the output and the reason goes to stderr.
// And it must never leave a process or a mount behind, even when cancelled.
package bench
